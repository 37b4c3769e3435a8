"""Backend test helpers: which backends are importable here, and spec loading."""

from __future__ import annotations

import importlib.util

import pytest

from netspec.backend import BACKENDS, get_backend

AVAILABLE = [
    name for name in BACKENDS if name == "numpy" or importlib.util.find_spec(name) is not None
]


def backend_params() -> list[object]:
    """Every backend, each skipped with a reason where its framework is not installed."""
    return [
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                name not in AVAILABLE,
                reason=f"{name} is not installed (pip install netspec[{name}])",
            ),
            id=name,
        )
        for name in BACKENDS
    ]


@pytest.fixture
def backend(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return get_backend(request.param)
