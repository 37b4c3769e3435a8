"""The NumPy backend against a textbook NumPy implementation of LeNet-5.

The reference is the straightforward implementation of "Deep Learning from Scratch"
(``common/layers.py``): float64, one Python object per layer, im2col as
``transpose(0, 4, 5, 1, 2, 3)`` copies, pooling through im2col and argmax, col2im by
loops over kernel offsets. It lives in benchmarks/references/numpy_textbook.py, shared
with the benchmark suite (python -m benchmarks). Here it is an independent oracle for
the LeNet-5 loss and gradients; the speed comparison (the backend must be at least twice
as fast) is measured by the benchmark suite, never asserted in a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from test_numpy_support import assert_close

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for benchmarks

import netspec
from benchmarks.references.numpy_textbook import TextbookLeNet
from netspec.backends.numpy import BACKEND
from netspec.ir import CheckedModel
from netspec.ir.train import SoftmaxCrossEntropy

LENET = "specs/lenet5.net"
BATCH = 64


@pytest.fixture(scope="module")
def lenet() -> CheckedModel:
    return netspec.load(LENET).model()


def _batch(model: CheckedModel) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (BATCH, *model.input.shape)).astype(np.float32)
    return x, rng.integers(0, 10, BATCH)


def test_lenet_gradients_match_the_textbook_implementation(lenet: CheckedModel) -> None:
    compiled = BACKEND.compile(lenet, seed=3)
    x, t = _batch(lenet)
    loss, grads = compiled.loss_and_grads(x, t, SoftmaxCrossEntropy())
    want_loss, want = TextbookLeNet(compiled.parameters()).loss_and_grads(x, t)
    # The book adds 1e-7 inside the log; float32 against float64 otherwise.
    assert abs(loss - want_loss) < 1e-5
    for name, g in want.items():
        scale = float(np.abs(g).max())
        assert_close(name, grads[name], g, rtol=1e-3, atol=1e-4 * scale)
