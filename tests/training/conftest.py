"""Training test helpers: a small fast spec, its file, and weight comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.ir import Program
from netspec.weights import load_weights

# Adam and early stopping with restore_best: a checkpoint holds weights, optimizer
# buffers and the best epoch's weights. Three epochs take milliseconds.
TINY = """netspec 1
model net(x: [64]) {
    dense(16) -> relu
    dense(10)
}
train net {
    data       digits(flatten = true, limit = 160, validation = 0.25)
    loss       softmax_cross_entropy
    optimizer  adam(lr = 0.01)
    batch_size 40
    epochs     3
    seed       1
    early_stopping monitor = val_loss, patience = 5
}
"""
LOCK_FILE = ".netspec.lock"  # a run directory's lock, as docs/training.md names it


@pytest.fixture
def tiny() -> Program:
    return netspec.load(TINY)


@pytest.fixture
def tiny_file(tmp_path: Path) -> str:
    path = tmp_path / "tiny.net"
    path.write_text(TINY)
    return str(path)


def assert_same_weights(a: Path, b: Path) -> None:
    """Two weight files hold the same arrays, bit for bit."""
    left, right = load_weights(a), load_weights(b)
    assert left.keys() == right.keys()
    for name in left:
        np.testing.assert_array_equal(left[name], right[name], err_msg=name)


class Killed(BaseException):
    """Stands for the process dying at a chosen point (not an Exception: nothing catches it)."""
