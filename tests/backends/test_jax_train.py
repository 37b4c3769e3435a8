"""The fused train step against torch.optim, in float64: weights, buffers and statistics.

A small net (dense -> tanh -> dense, with l2, l1 and max_norm on its weights) takes the
same batches and learning rates in both; after several steps every weight and every
optimizer buffer must agree to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")
F = torch.nn.functional

from test_jax_support import Layer, checked, inline, random_params  # noqa: E402

from netspec.backend import TrainStep  # noqa: E402
from netspec.backends.jax import BACKEND  # noqa: E402
from netspec.ir import CheckedModel, Regularize  # noqa: E402
from netspec.ir import ops as ir  # noqa: E402
from netspec.ir.train import (  # noqa: E402
    Adagrad,
    Adam,
    AdamW,
    BinaryCrossEntropy,
    ClipSpec,
    MeanSquaredError,
    OptimizerSpec,
    Rmsprop,
    Sgd,
    SoftmaxCrossEntropy,
)

TOL = 1e-10
STEPS = 6
LRS = [0.1, 0.1, 0.05, 0.05, 0.02, 0.02]  # the loop changes lr between steps
PENALTY = Regularize(l2=0.01, l1=0.002, max_norm=1.2)

OPTIMIZERS: dict[str, tuple[OptimizerSpec, ClipSpec | None]] = {
    "sgd": (Sgd(lr=0.1), None),
    "sgd_momentum_dampening": (Sgd(lr=0.1, momentum=0.9, dampening=0.3), None),
    "sgd_nesterov_clip_norm": (
        Sgd(lr=0.1, momentum=0.9, nesterov=True),
        ClipSpec(by="norm", threshold=0.5),
    ),
    "adagrad": (Adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1), None),
    "rmsprop": (Rmsprop(lr=0.01), ClipSpec(by="value", threshold=0.05)),
    "rmsprop_centered_momentum": (Rmsprop(lr=0.01, momentum=0.8, centered=True), None),
    "adam": (Adam(lr=0.01), None),
    "adam_amsgrad": (Adam(lr=0.01, amsgrad=True), ClipSpec(by="norm", threshold=0.3)),
    "adamw": (AdamW(lr=0.01, weight_decay=0.1), None),
    "adamw_amsgrad": (AdamW(lr=0.01, amsgrad=True), None),
}


def net() -> CheckedModel:
    return checked(
        (4,),
        [
            Layer("fc1", ir.Dense(units=5, regularize=PENALTY)),
            Layer("act", ir.Tanh()),
            Layer("fc2", ir.Dense(units=3, regularize=PENALTY)),
        ],
    )


def batches(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(8, 4)), rng.integers(0, 3, size=8)) for _ in range(STEPS)]


def torch_optimizer(spec: OptimizerSpec, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    if isinstance(spec, Sgd):
        return torch.optim.SGD(
            params,
            lr=spec.lr,
            momentum=spec.momentum,
            dampening=spec.dampening,
            nesterov=spec.nesterov,
        )
    if isinstance(spec, Adagrad):
        return torch.optim.Adagrad(
            params,
            lr=spec.lr,
            lr_decay=spec.lr_decay,
            initial_accumulator_value=spec.initial_accumulator_value,
            eps=spec.eps,
        )
    if isinstance(spec, Rmsprop):
        return torch.optim.RMSprop(
            params,
            lr=spec.lr,
            alpha=spec.alpha,
            eps=spec.eps,
            momentum=spec.momentum,
            centered=spec.centered,
        )
    if isinstance(spec, AdamW):
        return torch.optim.AdamW(
            params,
            lr=spec.lr,
            betas=(spec.beta1, spec.beta2),
            eps=spec.eps,
            weight_decay=spec.weight_decay,
            amsgrad=spec.amsgrad,
        )
    assert isinstance(spec, Adam)
    return torch.optim.Adam(
        params, lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps, amsgrad=spec.amsgrad
    )


def torch_training(
    values: dict[str, np.ndarray], spec: OptimizerSpec, clip: ClipSpec | None
) -> tuple[dict[str, torch.Tensor], torch.optim.Optimizer, list[float]]:
    p = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    opt = torch_optimizer(spec, list(p.values()))
    losses = []
    for (x, y), lr in zip(batches(), LRS, strict=True):
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        h = torch.tanh(F.linear(torch.tensor(x), p["fc1.weight"], p["fc1.bias"]))
        data = F.cross_entropy(F.linear(h, p["fc2.weight"], p["fc2.bias"]), torch.tensor(y))
        total = data
        for w in (p["fc1.weight"], p["fc2.weight"]):
            total = total + 0.5 * PENALTY.l2 * (w**2).sum() + PENALTY.l1 * w.abs().sum()
        total.backward()
        if clip is not None and clip.by == "norm":
            torch.nn.utils.clip_grad_norm_(list(p.values()), clip.threshold)
        elif clip is not None:
            torch.nn.utils.clip_grad_value_(list(p.values()), clip.threshold)
        opt.step()
        with torch.no_grad():
            for w in (p["fc1.weight"], p["fc2.weight"]):
                w.copy_(torch.renorm(w, 2, 0, PENALTY.max_norm))
        losses.append(data.item())
    return p, opt, losses


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_train_step_matches_torch_optim(name: str) -> None:
    spec, clip = OPTIMIZERS[name]
    model = net()
    values = random_params(model)
    compiled = BACKEND.compile(model, dtype="float64", params=values)
    step = compiled.train_step(SoftmaxCrossEntropy(), spec, clip)
    assert isinstance(step, TrainStep)
    for (x, y), lr in zip(batches(), LRS, strict=True):
        step.step(x, y, lr)
    stats = step.drain()
    theirs, opt, losses = torch_training(values, spec, clip)

    for key, value in compiled.parameters().items():
        np.testing.assert_allclose(
            value, theirs[key].detach().numpy(), rtol=TOL, atol=TOL, err_msg=f"{name}: {key}"
        )
    state = step.optimizer_state()
    assert int(state.pop("step")) == STEPS
    expected = {
        f"{key}.{buffer}": value.numpy()
        for key, tensor in theirs.items()
        for buffer, value in opt.state[tensor].items()
        if buffer != "step"
    }
    assert set(state) == set(expected)
    for key, value in state.items():
        np.testing.assert_allclose(value, expected[key], rtol=TOL, atol=TOL, err_msg=key)
    assert stats.samples == 8 * STEPS
    assert stats.loss_sum == pytest.approx(8 * sum(losses), rel=1e-12)
    assert stats.first_nonfinite == -1


def test_stats_count_hits_and_reset_on_drain() -> None:
    model = inline((2,), "dense(2, weight = [[1, 0], [0, 1]], bias = [0, 0])")
    compiled = BACKEND.compile(model, dtype="float64")
    step = compiled.train_step(SoftmaxCrossEntropy(), Sgd(lr=0.0))
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    step.step(x, np.array([0, 1, 1]), 0.0)  # predictions 0, 1, 0: two hits
    step.step(x, np.array([[1.0, 0], [1, 0], [1, 0]]), 0.0)  # one-hot targets: two hits
    stats = step.drain()
    assert (stats.samples, stats.correct) == (6, 4)
    assert step.drain().samples == 0


def test_binary_hits_and_regression_counts_none() -> None:
    model = inline((1,), "dense(1, weight = [[1]], bias = [0])")
    compiled = BACKEND.compile(model)
    x = np.array([[2.0], [-1.0], [0.5]])
    binary = compiled.train_step(BinaryCrossEntropy(), Sgd(lr=0.0))
    binary.step(x, np.array([1.0, 1.0, 1.0]), 0.0)  # targets [N] for output [N, 1]
    assert binary.drain().correct == 2
    regression = compiled.train_step(MeanSquaredError(), Sgd(lr=0.0))
    regression.step(x, np.zeros(3), 0.0)
    stats = regression.drain()
    assert stats.correct == 0
    assert stats.loss_sum == pytest.approx((4 + 1 + 0.25) / 3 * 3)


def test_first_nonfinite_step_is_reported() -> None:
    compiled = BACKEND.compile(net())
    step = compiled.train_step(SoftmaxCrossEntropy(), Sgd(lr=0.1))
    good = np.ones((2, 4))
    step.step(good, np.array([0, 1]), 0.1)
    step.step(np.full((2, 4), np.nan), np.array([0, 1]), 0.1)
    step.step(good, np.array([0, 1]), 0.1)
    assert step.drain().first_nonfinite == 1
    # Weights are NaN from then on: every later step is non-finite, counted from 0.
    step.step(good, np.array([0, 1]), 0.1)
    assert step.drain().first_nonfinite == 0


def test_train_step_updates_the_models_state_and_resumes() -> None:
    model = inline((3,), "dense(4) -> batchnorm -> relu -> dense(2)")
    data = [
        (np.random.default_rng(i).normal(2.0, 1.0, size=(5, 3)), np.array([0, 1, 0, 1, 1]))
        for i in range(6)
    ]
    straight = BACKEND.compile(model, dtype="float64", seed=1)
    step = straight.train_step(SoftmaxCrossEntropy(), Adam(lr=0.01))
    for x, y in data:
        step.step(x, y, 0.01)
    assert straight.state()["batchnorm_1.running_mean"].any()

    first = BACKEND.compile(model, dtype="float64", seed=1)
    half = first.train_step(SoftmaxCrossEntropy(), Adam(lr=0.01))
    for x, y in data[:3]:
        half.step(x, y, 0.01)
    resumed = BACKEND.compile(
        model, dtype="float64", params={**first.parameters(), **first.state()}
    )
    rest = resumed.train_step(SoftmaxCrossEntropy(), Adam(lr=0.01))
    rest.load_optimizer_state(half.optimizer_state())
    for x, y in data[3:]:
        rest.step(x, y, 0.01)
    for key, value in straight.parameters().items():
        np.testing.assert_allclose(resumed.parameters()[key], value, rtol=1e-12, err_msg=key)
