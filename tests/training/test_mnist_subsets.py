"""Short runs on real MNIST subsets reach a stated accuracy on every backend.

The MNIST files are found through NETSPEC_DATA_DIR (CI sets it to ../shared/data); the
tests skip, saying so, where it is not set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import netspec
from netspec.data import DATA_DIR_ENV
from tests.backends.conftest import backend_params
from tests.conftest import ROOT


def _mnist_present() -> bool:
    root = Path(os.environ.get(DATA_DIR_ENV, ""))
    names = ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return bool(os.environ.get(DATA_DIR_ENV)) and any(
        (folder / f"{name}{suffix}").exists()
        for folder in (root, root / "mnist")
        for name in names
        for suffix in ("", ".gz")
    )


pytestmark = pytest.mark.skipif(
    not _mnist_present(), reason=f"no MNIST files under ${DATA_DIR_ENV} (or it is not set)"
)

# 3000 training images, 2 epochs of the MLP 784-256-10 and of LeNet-5: well above chance
# (10%); the figures are what these runs reach with margin, not the full-data results.
CASES = [
    ("mlp", "mnist(flatten = true, limit = 3000)", 2, 0.85),
    ("lenet5", "mnist(limit = 3000, validation = 0.1)", 2, 0.85),
]


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize(("stem", "data", "epochs", "accuracy"), CASES, ids=[c[0] for c in CASES])
def test_short_mnist_run_reaches_accuracy(
    backend: str, stem: str, data: str, epochs: int, accuracy: float, tmp_path: Path
) -> None:
    result = netspec.train(
        ROOT / "specs" / f"{stem}.net",
        backend=backend,
        data=data,
        epochs=epochs,
        out=tmp_path / "run",
        progress=False,
    )
    assert result.final["test_accuracy"] >= accuracy, result.history
