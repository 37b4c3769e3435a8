"""Loss values against numbers worked out by hand, gradients against central differences."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from test_numpy_support import assert_close, build, compile64, numeric_grad

from netspec.errors import NetspecError, ShapeError
from netspec.ir import Regularize
from netspec.ir import ops as ir
from netspec.ir.train import (
    BinaryCrossEntropy,
    HalfSumSquaredError,
    LossSpec,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)

LOGITS = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
# -log softmax(LOGITS)[0, 2] = log(e + e^2 + e^3) - 3, and row 1 is uniform: log 3.
NLL_ROW0 = math.log(math.e + math.e**2 + math.e**3) - 3.0
NLL_ROW1 = math.log(3.0)


def _loss(out: np.ndarray, y: np.ndarray, spec: LossSpec) -> float:
    """The loss of ``out`` through an identity model, as the trainer would get it."""
    compiled = compile64(build(out.shape[1:], ir.Identity()))
    return compiled.loss_and_grads(out, y, spec)[0]


@pytest.mark.parametrize(
    ("out", "y", "spec", "want"),
    [
        (LOGITS, np.array([2, 0]), SoftmaxCrossEntropy(), (NLL_ROW0 + NLL_ROW1) / 2),
        (
            LOGITS,
            np.array([2, 0]),
            SoftmaxCrossEntropy(class_weights=(1.0, 2.0, 0.5)),
            # torch: sum_i w[y_i] nll_i / sum_i w[y_i], here w = (0.5, 1.0).
            (0.5 * NLL_ROW0 + 1.0 * NLL_ROW1) / 1.5,
        ),
        (
            LOGITS,
            np.array([[0.0, 0.0, 1.0], [1 / 3, 1 / 3, 1 / 3]]),
            SoftmaxCrossEntropy(),
            (NLL_ROW0 + NLL_ROW1) / 2,
        ),
        (
            LOGITS,
            np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]),
            SoftmaxCrossEntropy(class_weights=(1.0, 2.0, 0.5)),
            # torch with probability targets: sum_c w_c t_c nll_c, divided by N (not by w).
            (0.5 * NLL_ROW0 + 1.0 * NLL_ROW1) / 2,
        ),
        (
            np.array([[0.0, 2.0]]),
            np.array([[1.0, 0.0]]),
            BinaryCrossEntropy(),
            # -log sigmoid(0) = log 2; -log(1 - sigmoid(2)) = log(1 + e^2).
            (math.log(2.0) + math.log(1.0 + math.e**2)) / 2,
        ),
        (
            np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
            np.array([[1.0, 0.0, 0.0], [0.0, 5.0, 8.0]]),
            MeanSquaredError(),
            (0 + 4 + 9 + 16 + 0 + 4) / 6,
        ),
        (
            np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
            np.array([[1.0, 0.0, 0.0], [0.0, 5.0, 8.0]]),
            HalfSumSquaredError(),
            0.5 * (0 + 4 + 9 + 16 + 0 + 4) / 2,
        ),
        (
            np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
            np.array([[1.0, 0.0, 0.0], [0.0, 5.0, 8.0]]),
            MeanAbsoluteError(),
            (0 + 2 + 3 + 4 + 0 + 2) / 6,
        ),
        (np.array([[2.0], [-1.0]]), np.array([0.5, 1.0]), MeanSquaredError(), (2.25 + 4) / 2),
    ],
    ids=[
        "ce_int",
        "ce_int_weighted",
        "ce_probs",
        "ce_one_hot_weighted",
        "bce",
        "mse",
        "half_sse",
        "l1",
        "mse_targets_per_sample",
    ],
)
def test_loss_value_matches_the_hand_computation(
    out: np.ndarray, y: np.ndarray, spec: LossSpec, want: float
) -> None:
    assert _loss(out, y, spec) == pytest.approx(want, rel=1e-12)


def test_large_logits_do_not_overflow() -> None:
    big = np.array([[1000.0, 0.0, -1000.0]])
    assert _loss(big, np.array([0]), SoftmaxCrossEntropy()) == pytest.approx(0.0, abs=1e-12)
    assert _loss(big, np.array([2]), SoftmaxCrossEntropy()) == pytest.approx(2000.0)
    assert _loss(big, np.array([[0.0, 1.0, 1.0]]), BinaryCrossEntropy()) == pytest.approx(
        # -log(1 - sigmoid(1000)) = 1000, -log sigmoid(0) = log 2, -log sigmoid(-1000) = 1000.
        (1000.0 + math.log(2.0) + 1000.0) / 3
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


def test_penalties_add_half_l2_and_l1_on_declared_weights_only() -> None:
    model = build((3,), ir.Dense(units=2, regularize=Regularize(l2=0.5, l1=0.1)))
    compiled = compile64(model)
    w = np.array([[1.0, -2.0, 0.0], [0.5, 3.0, -1.0]])
    b = np.array([10.0, -10.0])  # biases carry no penalty
    compiled.set_parameters({"n0.weight": w, "n0.bias": b})
    x, t = np.ones((2, 3)), np.zeros((2, 2))
    plain = compile64(build((3,), ir.Dense(units=2)))
    plain.set_parameters({"n0.weight": w, "n0.bias": b})
    total, grads = compiled.loss_and_grads(x, t, MeanSquaredError())
    data, plain_grads = plain.loss_and_grads(x, t, MeanSquaredError())
    assert total - data == pytest.approx(0.5 * 0.5 * (1 + 4 + 0 + 0.25 + 9 + 1) + 0.1 * 7.5)
    assert_close(
        "penalised weight gradient",
        grads["n0.weight"],
        plain_grads["n0.weight"] + 0.5 * w + 0.1 * np.sign(w),
        1e-12,
        1e-12,
    )
    assert_close("bias gradient", grads["n0.bias"], plain_grads["n0.bias"], 0, 0)


@pytest.mark.parametrize(
    ("y", "spec", "message"),
    [
        (np.array([0, 3]), SoftmaxCrossEntropy(), "output has 3 classes"),
        (np.array([0, -1]), SoftmaxCrossEntropy(), "whole numbers in [0, 3), got -1"),
        (np.array([0.5, 1.0]), SoftmaxCrossEntropy(), "whole numbers in [0, 3), got 0.5"),
        (np.array([0, 1, 2]), SoftmaxCrossEntropy(), "have shape (3,), expected (2,)"),
        (np.zeros((2, 2)), MeanSquaredError(), "have shape (2, 2), expected (2, 3)"),
        (np.zeros((2, 3), dtype=complex), MeanSquaredError(), "expected real numbers"),
    ],
    ids=["label_too_big", "label_negative", "float_labels", "batch", "target_shape", "complex"],
)
def test_bad_targets_raise_shape_errors(y: np.ndarray, spec: LossSpec, message: str) -> None:
    with pytest.raises(ShapeError, match=re.escape(message)):
        _loss(LOGITS, y, spec)


def test_class_weights_of_the_wrong_length_are_rejected() -> None:
    with pytest.raises(NetspecError, match=r"2 class_weights, expected one per class \(3\)"):
        _loss(LOGITS, np.array([0, 1]), SoftmaxCrossEntropy(class_weights=(1.0, 2.0)))
