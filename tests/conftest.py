"""Shared fixtures: the repository's paths and the example specs."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.net"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# The message torch.jit.script_method warns with; pyproject.toml turns it into an error.
SCRIPT_METHOD_DEPRECATED = "`torch.jit.script_method` is deprecated"


@pytest.fixture
def torch_compile_imports() -> None:
    """Import what torch.compile imports, expecting the deprecation warnings torch's own
    code raises there, for tests that call torch.compile with its default backend.

    torch.compile (inductor) imports torch.utils.mkldnn, whose classes torch itself still
    decorates with its deprecated torch.jit.script_method: 14 DeprecationWarnings, once
    per process, none of them netspec's. They are expected here only; everywhere else
    pyproject.toml makes that warning an error, so netspec can never use the decorator.
    """
    if "torch.utils.mkldnn" in sys.modules:
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import torch.utils.mkldnn  # noqa: F401
    for warning in caught:
        if not str(warning.message).startswith(SCRIPT_METHOD_DEPRECATED):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
