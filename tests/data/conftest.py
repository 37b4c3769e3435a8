"""Fixtures for the data tests: no network, an isolated cache, tiny IDX data sets."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from netspec.data import write_idx


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every data test runs offline with its own empty download cache."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a test tried to open a URL: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache / "netspec" / "data"


@pytest.fixture
def no_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset NETSPEC_DATA_DIR (CI sets it for the real MNIST test)."""
    monkeypatch.delenv("NETSPEC_DATA_DIR", raising=False)


def tiny_arrays(n_train: int = 60, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }


@pytest.fixture
def tiny() -> Callable[..., dict[str, np.ndarray]]:
    """{IDX file name: array} of a tiny MNIST-shaped data set (labels cycle 0..9)."""
    return tiny_arrays


@pytest.fixture
def make_idx_dir() -> Callable[..., dict[str, np.ndarray]]:
    """Write a tiny MNIST-shaped data set (four IDX files) into a directory."""

    def make(
        directory: Path, *, gz: bool = True, n_train: int = 60, n_test: int = 20, seed: int = 0
    ) -> dict[str, np.ndarray]:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = tiny_arrays(n_train, n_test, seed)
        for name, array in arrays.items():
            write_idx(directory / (f"{name}.gz" if gz else name), array)
        return arrays

    return make
