"""The NumPy backend's hand-written loss gradients against central differences.

Loss values, penalties and bad targets are tested on every backend in
test_contract.py and test_contract_training.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_numpy_support import assert_close, build, compile64, numeric_grad

from netspec.ir import ops as ir
from netspec.ir.train import (
    BinaryCrossEntropy,
    HalfSumSquaredError,
    LossSpec,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)

LOSSES: list[tuple[str, LossSpec, str]] = [
    ("ce", SoftmaxCrossEntropy(), "int"),
    ("ce_weighted", SoftmaxCrossEntropy(class_weights=(0.2, 1.0, 3.0, 0.7)), "int"),
    ("ce_probs_weighted", SoftmaxCrossEntropy(class_weights=(0.2, 1.0, 3.0, 0.7)), "probs"),
    ("bce", BinaryCrossEntropy(), "binary"),
    ("mse", MeanSquaredError(), "real"),
    ("half_sse", HalfSumSquaredError(), "real"),
    ("l1", MeanAbsoluteError(), "real"),
]


@pytest.mark.parametrize(("label", "spec", "kind"), LOSSES, ids=[c[0] for c in LOSSES])
def test_fused_loss_gradient_matches_central_differences(
    label: str, spec: LossSpec, kind: str
) -> None:
    rng = np.random.default_rng(2)
    compiled = compile64(build((4,), ir.Identity()))
    out = rng.standard_normal((5, 4)) * 3
    y = {
        "int": lambda: rng.integers(0, 4, 5),
        "probs": lambda: rng.dirichlet(np.ones(4), 5),
        "binary": lambda: rng.integers(0, 2, (5, 4)).astype(np.float64),
        "real": lambda: rng.standard_normal((5, 4)),
    }[kind]()
    _, grads = compiled.loss_and_grads(out, y, spec, input_grad=True)
    want = numeric_grad(lambda: compiled.loss_and_grads(out, y, spec)[0], out)
    assert_close(f"d {label} / d output", grads["x"], want, 1e-6, 1e-9)
