"""The torch backend's fused training step against the NumPy backend's (the oracle), its
statistics, and its saved optimizer state."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")

import netspec  # noqa: E402
from netspec.backend import TrainStep  # noqa: E402
from netspec.backends.numpy import BACKEND as NUMPY  # noqa: E402
from netspec.backends.torch import BACKEND  # noqa: E402
from netspec.ir import CheckedModel  # noqa: E402
from netspec.ir.train import (  # noqa: E402
    Adagrad,
    Adam,
    AdamW,
    ClipSpec,
    MeanSquaredError,
    OptimizerSpec,
    Rmsprop,
    Sgd,
    SoftmaxCrossEntropy,
)

STEPS = 20
MLP = """dense(6, regularize = [l2(0.01), max_norm(0.9)]) -> tanh
    dense(3, regularize = l1(0.002))"""
CNN = """conv2d(4, 3, padding = same, regularize = max_norm(0.5)) -> batchnorm -> relu
    maxpool(2) -> flatten -> dense(3, regularize = l2(0.05))"""


def model_of(shape: tuple[int, ...], body: str) -> CheckedModel:
    return netspec.load(f"netspec 1\nmodel m(x: {list(shape)}) {{\n{body}\n}}\n").model()


def batches(shape: tuple[int, ...], steps: int = STEPS) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((8, *shape)), rng.integers(0, 3, 8)) for _ in range(steps)]


OPTIMIZERS: list[tuple[str, OptimizerSpec, ClipSpec | None]] = [
    ("sgd", Sgd(lr=0.05), None),
    ("momentum_dampening", Sgd(lr=0.05, momentum=0.9, dampening=0.3), None),
    (
        "nesterov_clip_norm",
        Sgd(lr=0.05, momentum=0.9, nesterov=True),
        ClipSpec(by="norm", threshold=0.5),
    ),
    ("adagrad", Adagrad(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1), None),
    ("rmsprop_clip_value", Rmsprop(lr=0.01), ClipSpec(by="value", threshold=0.05)),
    ("rmsprop_centered_momentum", Rmsprop(lr=0.01, momentum=0.5, centered=True), None),
    ("adam", Adam(lr=0.01), None),
    ("adam_amsgrad_clip_norm", Adam(lr=0.01, amsgrad=True), ClipSpec(by="norm", threshold=0.2)),
    ("adamw", AdamW(lr=0.01, weight_decay=0.1), None),
]


@pytest.mark.parametrize(("label", "spec", "clip"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_twenty_steps_match_the_numpy_backend(
    label: str, spec: OptimizerSpec, clip: ClipSpec | None
) -> None:
    model = model_of((4,), MLP)
    ours = BACKEND.compile(model, dtype="float64", seed=2)
    oracle = NUMPY.compile(model, dtype="float64", seed=2)
    step, oracle_step = (
        ours.train_step(SoftmaxCrossEntropy(), spec, clip),
        oracle.train_step(SoftmaxCrossEntropy(), spec, clip),
    )
    assert isinstance(step, TrainStep)
    for index, (x, t) in enumerate(batches((4,))):
        lr = spec.lr * (1 - index / 40)  # the loop may change the rate between steps
        step.step(x, t, lr)
        oracle_step.step(x, t, lr)
    want = oracle.parameters()
    for name, value in ours.parameters().items():
        np.testing.assert_allclose(
            value, want[name], rtol=1e-8, atol=1e-10, err_msg=f"{label}: {name}"
        )
    saved, expected = step.optimizer_state(), oracle_step.optimizer_state()
    assert sorted(saved) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(saved[key], value, rtol=1e-8, atol=1e-10, err_msg=key)


def test_a_conv_net_with_batchnorm_and_max_norm_filters_trains_like_numpy() -> None:
    model = model_of((2, 6, 6), CNN)
    ours = BACKEND.compile(model, dtype="float64", seed=5)
    oracle = NUMPY.compile(model, dtype="float64", seed=5)
    spec = Sgd(lr=0.1, momentum=0.9)
    step, oracle_step = (
        ours.train_step(SoftmaxCrossEntropy(), spec),
        oracle.train_step(SoftmaxCrossEntropy(), spec),
    )
    for x, t in batches((2, 6, 6), 10):
        step.step(x, t, 0.1)
        oracle_step.step(x, t, 0.1)
    got, want = {**ours.parameters(), **ours.state()}, {**oracle.parameters(), **oracle.state()}
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-8, atol=1e-10, err_msg=name)
    filters = got[model.params[0].name].reshape(4, -1)
    assert np.all(np.linalg.norm(filters, axis=1) <= 0.5 + 1e-9)
    assert ours.module.training, "the step trains: batch statistics, dropout on"


def test_statistics_stay_until_drained() -> None:
    model = model_of((4,), MLP)
    compiled = BACKEND.compile(model, dtype="float64")
    probe = BACKEND.compile(model, dtype="float64")
    step = compiled.train_step(SoftmaxCrossEntropy(), Sgd(lr=0.1))
    weight, second = model.params[0].name, model.params[2].name
    loss_sum, hits = 0.0, 0
    for x, t in batches((4,), 3):
        params = compiled.parameters()
        probe.set_parameters(params)
        hits += int(np.sum(probe.forward(x, train=True).argmax(axis=1) == t))
        total = probe.loss_and_grads(x, t, SoftmaxCrossEntropy())[0]
        # The statistics hold the data loss alone, without the penalties.
        penalties = 0.005 * np.sum(params[weight] ** 2) + 0.002 * np.sum(np.abs(params[second]))
        loss_sum += 8 * (total - penalties)
        step.step(x, t, 0.1)
    stats = step.drain()
    assert (stats.samples, stats.correct, stats.first_nonfinite) == (24, hits, -1)
    assert stats.loss_sum == pytest.approx(loss_sum, rel=1e-12)
    assert step.drain().samples == 0


def test_statistics_hold_the_first_non_finite_step_and_regression_counts_no_hits() -> None:
    compiled = BACKEND.compile(model_of((4,), "dense(2)"), dtype="float64")
    step = compiled.train_step(MeanSquaredError(), Sgd(lr=0.01))
    x = np.ones((2, 4))
    step.step(x, np.zeros((2, 2)), 0.01)
    step.step(x * np.inf, np.zeros((2, 2)), 0.01)
    step.step(x, np.zeros((2, 2)), 0.01)
    stats = step.drain()
    assert (stats.first_nonfinite, stats.correct, stats.samples) == (1, 0, 6)
    assert not np.isfinite(stats.loss_sum)


@pytest.mark.parametrize(
    "spec",
    [
        Sgd(lr=0.05, momentum=0.9),
        Adagrad(lr=0.05),
        Rmsprop(lr=0.01, momentum=0.5, centered=True),
        AdamW(lr=0.01, amsgrad=True),
    ],
    ids=lambda spec: spec.kind,
)
def test_a_saved_optimizer_state_resumes_exactly(spec: OptimizerSpec) -> None:
    model = model_of((4,), MLP)
    data = batches((4,), 10)
    loss = SoftmaxCrossEntropy()
    whole = BACKEND.compile(model, dtype="float64", seed=1)
    whole_step = whole.train_step(loss, spec)
    for x, t in data:
        whole_step.step(x, t, spec.lr)
    first = BACKEND.compile(model, dtype="float64", seed=1)
    first_step = first.train_step(loss, spec)
    for x, t in data[:5]:
        first_step.step(x, t, spec.lr)
    resumed = BACKEND.compile(model, dtype="float64", params=first.parameters())
    resumed_step = resumed.train_step(loss, spec)
    resumed_step.load_optimizer_state(first_step.optimizer_state())
    for x, t in data[5:]:
        resumed_step.step(x, t, spec.lr)
    for name, value in whole.parameters().items():
        np.testing.assert_allclose(resumed.parameters()[name], value, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("spec", [Adagrad(lr=0.05), Adam(lr=0.01)], ids=lambda s: s.kind)
def test_an_empty_state_at_step_zero_restarts_the_optimizer(spec: OptimizerSpec) -> None:
    model = model_of((4,), MLP)
    data = batches((4,), 4)
    fresh = BACKEND.compile(model, dtype="float64")
    fresh_step = fresh.train_step(SoftmaxCrossEntropy(), spec)
    reloaded = BACKEND.compile(model, dtype="float64")
    reloaded_step = reloaded.train_step(SoftmaxCrossEntropy(), spec)
    reloaded_step.step(*data[0], spec.lr)
    reloaded.set_parameters(fresh.parameters())
    reloaded_step.load_optimizer_state({"step": np.array(0)})
    for x, t in data:
        fresh_step.step(x, t, spec.lr)
        reloaded_step.step(x, t, spec.lr)
    for name, value in fresh.parameters().items():
        np.testing.assert_array_equal(reloaded.parameters()[name], value, err_msg=name)
