"""Shared fixtures: the repository's paths and the example specs."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.net"))

# A model of two inputs: an image branch and a vector branch, concatenated into dense
# layers (with a batchnorm, so that running statistics are compared too).
TWO_INPUTS = """netspec 1
model two_inputs(image: [1, 6, 6], extra: [5]) {
    a = image -> conv2d(4, 3, padding = same) -> batchnorm -> relu -> maxpool(2) -> flatten
    b = extra -> dense(8) -> tanh
    concat(a, b) -> dense(16) -> relu
    dense(3)
}
"""
TWO_INPUT_SHAPES = {"image": (1, 6, 6), "extra": (5,)}


def two_input_samples(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``n`` samples of TWO_INPUTS' inputs by name, and class labels 0..2 that depend on
    both inputs, so that a model must read each to learn them."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(n, *TWO_INPUT_SHAPES["image"]))
    extra = rng.normal(size=(n, *TWO_INPUT_SHAPES["extra"]))
    score = image.mean(axis=(1, 2, 3)) * 4 + extra[:, 0]
    labels = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(np.int64)
    return {"image": image, "extra": extra}, labels


MIXED_INPUTS = """netspec 1
model mixed_inputs(tokens: int64[6], extra: [4]) {
    a = tokens -> embedding(10, 3) -> flatten -> dense(8)
    b = extra -> dense(8) -> tanh
    s = add(a, b)
    concat(s, extra) -> dense(3)
}
"""
MIXED_VOCABULARY = 10


def mixed_input_samples(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``n`` samples of MIXED_INPUTS' inputs by name (int64 token indices and floats), and
    class labels 0..2 that depend on both, so that a model must read each to learn them."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, MIXED_VOCABULARY, size=(n, 6), dtype=np.int64)
    extra = rng.normal(size=(n, 4))
    score = (tokens < 3).mean(axis=1) * 4 + extra[:, 0]
    labels = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3])).astype(np.int64)
    return {"tokens": tokens, "extra": extra}, labels


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
