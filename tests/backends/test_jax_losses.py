"""Losses and penalties of ``loss_and_grads`` against PyTorch, in float64, to 1e-10.

The model is one dense layer, so the check covers the loss, its gradient through the
layer to every parameter and to the input, and the declared l1 / l2 penalties.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")
jnp = jax.numpy
F = torch.nn.functional

from test_jax_support import Layer, checked, random_params  # noqa: E402

from netspec.backends.jax import BACKEND, loss_function  # noqa: E402
from netspec.errors import ShapeError  # noqa: E402
from netspec.ir import Regularize  # noqa: E402
from netspec.ir import ops as ir  # noqa: E402
from netspec.ir.train import (  # noqa: E402
    BinaryCrossEntropy,
    HalfSumSquaredError,
    LossSpec,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)

TOL = 1e-10
N, FEATURES, CLASSES = 6, 4, 3
WEIGHTS = (0.2, 1.0, 3.0)

rng = np.random.default_rng(7)
INDICES = rng.integers(0, CLASSES, size=N)
PROBS = rng.dirichlet(np.ones(CLASSES), size=N)
REALS = rng.normal(size=(N, CLASSES))
BITS = rng.integers(0, 2, size=(N, CLASSES)).astype(np.float64)

TorchLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES: dict[str, tuple[LossSpec, np.ndarray, TorchLoss]] = {
    "ce_indices": (SoftmaxCrossEntropy(), INDICES, F.cross_entropy),
    "ce_probabilities": (SoftmaxCrossEntropy(), PROBS, F.cross_entropy),
    "ce_indices_weighted": (
        SoftmaxCrossEntropy(class_weights=WEIGHTS),
        INDICES,
        lambda y, t: F.cross_entropy(y, t, weight=torch.tensor(WEIGHTS, dtype=torch.float64)),
    ),
    "ce_probabilities_weighted": (
        SoftmaxCrossEntropy(class_weights=WEIGHTS),
        PROBS,
        lambda y, t: F.cross_entropy(y, t, weight=torch.tensor(WEIGHTS, dtype=torch.float64)),
    ),
    "bce_logits": (BinaryCrossEntropy(), BITS, F.binary_cross_entropy_with_logits),
    "bce_soft_targets": (BinaryCrossEntropy(), PROBS, F.binary_cross_entropy_with_logits),
    "mse": (MeanSquaredError(), REALS, F.mse_loss),
    "half_sse": (
        HalfSumSquaredError(),
        REALS,
        lambda y, t: 0.5 * ((y - t) ** 2).sum() / y.shape[0],
    ),
    "l1": (MeanAbsoluteError(), REALS, F.l1_loss),
}


def torch_loss_and_grads(
    values: dict[str, np.ndarray],
    x: np.ndarray,
    targets: np.ndarray,
    fn: TorchLoss,
    l2: float = 0.0,
    l1: float = 0.0,
) -> tuple[float, dict[str, np.ndarray]]:
    weight = torch.tensor(values["fc.weight"], requires_grad=True)
    bias = torch.tensor(values["fc.bias"], requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    loss = fn(F.linear(tx, weight, bias), torch.tensor(targets))
    # Penalties on the weight only, as the checker declares them.
    loss = loss + 0.5 * l2 * (weight**2).sum() + l1 * weight.abs().sum()
    loss.backward()
    grads = {"fc.weight": weight.grad, "fc.bias": bias.grad, "x": tx.grad}
    return loss.item(), {k: v.numpy() for k, v in grads.items()}  # type: ignore[union-attr]


def compare(ours: tuple[float, dict], theirs: tuple[float, dict]) -> None:
    assert ours[0] == pytest.approx(theirs[0], rel=TOL, abs=TOL)
    assert set(ours[1]) == set(theirs[1])
    for key, value in theirs[1].items():
        np.testing.assert_allclose(ours[1][key], value, rtol=TOL, atol=TOL, err_msg=key)


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_matches_torch(name: str) -> None:
    spec, targets, fn = LOSSES[name]
    model = checked((FEATURES,), [Layer("fc", ir.Dense(units=CLASSES))])
    values = random_params(model)
    x = np.random.default_rng(3).normal(size=(N, FEATURES))
    compiled = BACKEND.compile(model, dtype="float64", params=values)
    ours = compiled.loss_and_grads(x, targets, spec, input_grad=True)
    compare(ours, torch_loss_and_grads(values, x, targets, fn))


@pytest.mark.parametrize(("l2", "l1"), [(0.3, 0.0), (0.0, 0.2), (0.3, 0.2)])
def test_penalties_match_torch(l2: float, l1: float) -> None:
    model = checked(
        (FEATURES,), [Layer("fc", ir.Dense(units=CLASSES, regularize=Regularize(l2=l2, l1=l1)))]
    )
    values = random_params(model)
    x = np.random.default_rng(4).normal(size=(N, FEATURES))
    compiled = BACKEND.compile(model, dtype="float64", params=values)
    ours = compiled.loss_and_grads(x, REALS, MeanSquaredError(), input_grad=True)
    compare(ours, torch_loss_and_grads(values, x, REALS, F.mse_loss, l2=l2, l1=l1))
    plain = BACKEND.compile(
        checked((FEATURES,), [Layer("fc", ir.Dense(units=CLASSES))]),
        dtype="float64",
        params=values,
    ).loss_and_grads(x, REALS, MeanSquaredError())
    w = values["fc.weight"]
    penalty = 0.5 * l2 * np.sum(w**2) + l1 * np.sum(np.abs(w))
    assert ours[0] - plain[0] == pytest.approx(penalty, rel=1e-12)


def test_l1_loss_gradient_is_zero_where_output_equals_target() -> None:
    # PyTorch's |x| has gradient sign(x), 0 at 0; jnp.abs alone would give 1 there.
    loss = loss_function(MeanAbsoluteError())
    y = jnp.array([[1.0, 2.0, -3.0]])
    t = jnp.array([[1.0, 0.0, 0.0]])
    grad = np.asarray(jax.grad(loss)(y, t))
    np.testing.assert_allclose(grad, [[0.0, 1 / 3, -1 / 3]])


def test_cross_entropy_by_hand() -> None:
    # logits (0, ln 3) for class 1: p = 3/4, loss = -ln(3/4); gradient p - onehot.
    model = checked((2,), [Layer("id", ir.Identity())])
    compiled = BACKEND.compile(model, dtype="float64")
    x = np.array([[0.0, np.log(3.0)]])
    loss, grads = compiled.loss_and_grads(x, np.array([1]), SoftmaxCrossEntropy(), input_grad=True)
    assert loss == pytest.approx(-np.log(0.75), rel=1e-14)
    np.testing.assert_allclose(grads["x"], [[0.25, -0.25]], atol=1e-15)


@pytest.mark.parametrize(
    ("spec", "targets", "message"),
    [
        (SoftmaxCrossEntropy(), np.zeros((N, 1), dtype=int), "(6,)"),
        (SoftmaxCrossEntropy(), np.full(N, CLASSES), "[0, 3)"),
        (SoftmaxCrossEntropy(), np.full(N, 0.5), "whole numbers"),
        (SoftmaxCrossEntropy(class_weights=(1.0, 2.0)), INDICES, "2 class_weights"),
        (MeanSquaredError(), np.zeros((N, CLASSES + 1)), "(6, 3)"),
        (BinaryCrossEntropy(), np.array(["a"] * N), "numbers"),
    ],
)
def test_bad_targets_raise_shape_error(spec: LossSpec, targets: np.ndarray, message: str) -> None:
    model = checked((FEATURES,), [Layer("fc", ir.Dense(units=CLASSES))])
    compiled = BACKEND.compile(model)
    with pytest.raises(ShapeError) as info:
        compiled.loss_and_grads(np.zeros((N, FEATURES)), targets, spec)
    assert message in str(info.value)
