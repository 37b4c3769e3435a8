"""The training contract, written once and run on every backend: penalties, losses at
their edges, the fused train step with clipping, penalties, max_norm and a changing
learning rate against the NumPy backend, and the step's statistics.

The NumPy backend's own steps are held to torch.optim in test_numpy_train.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import netspec
from netspec.backend import Backend, TrainStep, get_backend
from netspec.ir import CheckedModel
from netspec.ir.train import (
    Adagrad,
    Adam,
    AdamW,
    BinaryCrossEntropy,
    ClipSpec,
    HalfSumSquaredError,
    LossSpec,
    MeanAbsoluteError,
    MeanSquaredError,
    OptimizerSpec,
    Rmsprop,
    Sgd,
    SoftmaxCrossEntropy,
)
from tests.backends.conftest import backend_params


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> Backend:
    return get_backend(request.param)


def _model(shape: tuple[int, ...], body: str) -> CheckedModel:
    return netspec.load(f"netspec 1\nmodel m(x: {list(shape)}) {{\n{body}\n}}\n").model("m")


# -- penalties and losses at their edges ---------------------------------------------------


def test_penalties_add_half_l2_and_l1_on_declared_weights_only(backend: Backend) -> None:
    weight = np.array([[1.0, -2.0], [3.0, 0.5]])
    model = _model(
        (2,),
        "dense(2, weight = [[1, -2], [3, 0.5]], bias = [1, 1], regularize = [l2(0.1), l1(0.2)])",
    )
    compiled = backend.compile(model, dtype="float64")
    x, t = np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])
    loss, grads = compiled.loss_and_grads(x, t, HalfSumSquaredError())
    y = x @ weight.T + 1
    penalty = 0.5 * 0.1 * np.sum(weight**2) + 0.2 * np.sum(np.abs(weight))
    assert loss == pytest.approx(0.5 * np.sum(y**2) + penalty, rel=1e-14)
    want_grad = y.T @ x + 0.1 * weight + 0.2 * np.sign(weight)
    np.testing.assert_allclose(grads["dense_1.weight"], want_grad, rtol=1e-14)
    np.testing.assert_allclose(grads["dense_1.bias"], y[0], rtol=1e-14)  # biases: no penalty


def _identity_loss(backend: Backend, out: np.ndarray, y: np.ndarray, loss: object) -> float:
    compiled = backend.compile(_model(out.shape[1:], "identity"), dtype="float64")
    return compiled.loss_and_grads(out, y, loss)[0]  # type: ignore[arg-type]


def test_large_logits_do_not_overflow(backend: Backend) -> None:
    big = np.array([[1000.0, 0.0, -1000.0]])
    ce = SoftmaxCrossEntropy()
    assert _identity_loss(backend, big, np.array([0]), ce) == pytest.approx(0.0, abs=1e-12)
    assert _identity_loss(backend, big, np.array([2]), ce) == pytest.approx(2000.0)
    # -log(1 - sigmoid(1000)) = 1000, -log sigmoid(0) = log 2, -log sigmoid(-1000) = 1000.
    bce = _identity_loss(backend, big, np.array([[0.0, 1.0, 1.0]]), BinaryCrossEntropy())
    assert bce == pytest.approx((2000.0 + math.log(2.0)) / 3)


def test_one_target_per_sample_fits_a_single_output(backend: Backend) -> None:
    out = np.array([[2.0], [-1.0]])
    assert _identity_loss(backend, out, np.array([0.5, 1.0]), MeanSquaredError()) == (
        pytest.approx((2.25 + 4) / 2, rel=1e-14)
    )


def test_the_l1_gradient_is_zero_where_the_output_equals_the_target(backend: Backend) -> None:
    # PyTorch's |x| has gradient sign(x), 0 at 0.
    compiled = backend.compile(_model((3,), "identity"), dtype="float64")
    y, t = np.array([[1.0, 2.0, -3.0]]), np.array([[1.0, 0.0, 0.0]])
    _, grads = compiled.loss_and_grads(y, t, MeanAbsoluteError(), input_grad=True)
    np.testing.assert_array_equal(grads["x"], [[0.0, 1 / 3, -1 / 3]])


# A small net touching every layer with parameters or state, and both penalties.
SMALL_CNN = _model(
    (2, 5, 5),
    "conv2d(3, 3, padding = same, regularize = l2(0.3)) -> batchnorm\n"
    "prelu(per_channel = true) -> maxpool(2, padding = same) -> flatten\n"
    "dense(4, regularize = [l1(0.05), l2(0.1)]) -> tanh\n"
    "dense(3, init = xavier_uniform)",
)
GRADIENT_TARGETS: dict[str, tuple[LossSpec, Callable[[np.random.Generator], np.ndarray]]] = {
    "cross_entropy": (SoftmaxCrossEntropy(), lambda rng: rng.integers(0, 3, 4)),
    "cross_entropy_probabilities": (
        SoftmaxCrossEntropy(),
        lambda rng: rng.dirichlet(np.ones(3), size=4),
    ),
    "cross_entropy_weighted": (
        SoftmaxCrossEntropy(class_weights=(0.5, 2.0, 1.0)),
        lambda rng: rng.integers(0, 3, 4),
    ),
    "binary_cross_entropy": (
        BinaryCrossEntropy(),
        lambda rng: rng.integers(0, 2, (4, 3)).astype(np.float64),
    ),
    "half_sse": (HalfSumSquaredError(), lambda rng: rng.normal(size=(4, 3))),
}


@pytest.mark.parametrize("case", GRADIENT_TARGETS)
def test_gradients_through_every_layer_match_central_differences(
    backend: Backend, case: str
) -> None:
    loss, targets = GRADIENT_TARGETS[case]
    rng = np.random.default_rng(len(case))
    compiled = backend.compile(SMALL_CNN, dtype="float64", seed=4)
    x, t = rng.normal(size=(4, 2, 5, 5)), targets(rng)
    _, grads = compiled.loss_and_grads(x, t, loss, input_grad=True)
    params = compiled.parameters()
    for name, array in {**params, "x": x}.items():
        flat = array.reshape(-1)
        picks = rng.choice(flat.size, size=min(flat.size, 6), replace=False)
        numeric = []
        for i in picks:
            saved, ends = flat[i], []
            for shifted in (saved + 1e-6, saved - 1e-6):
                flat[i] = shifted
                if name != "x":
                    compiled.set_parameters({name: array})
                ends.append(compiled.loss_and_grads(x, t, loss)[0])
            flat[i] = saved
            numeric.append((ends[0] - ends[1]) / 2e-6)
        compiled.set_parameters(params)
        np.testing.assert_allclose(
            grads[name].reshape(-1)[picks], numeric, rtol=1e-5, atol=1e-8, err_msg=name
        )


# -- the train step against the NumPy backend ------------------------------------------------

MLP = _model(
    (4,),
    "dense(6, regularize = [l2(0.01), max_norm(0.9)]) -> tanh\n"
    "dense(3, regularize = [l1(0.002), l2(0.01)])",
)
STEPS = 6


def _batches(shape: tuple[int, ...], steps: int = STEPS) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((8, *shape)), rng.integers(0, 3, 8)) for _ in range(steps)]


CONFIGS: dict[str, tuple[OptimizerSpec, ClipSpec | None]] = {
    "sgd": (Sgd(lr=0.1), None),
    "momentum_dampening": (Sgd(lr=0.1, momentum=0.9, dampening=0.3), None),
    "nesterov_clip_norm": (
        Sgd(lr=0.1, momentum=0.9, nesterov=True),
        ClipSpec(by="norm", threshold=0.5),
    ),
    "adagrad": (Adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1), None),
    "rmsprop_clip_value": (Rmsprop(lr=0.01), ClipSpec(by="value", threshold=0.05)),
    "rmsprop_centered_momentum": (Rmsprop(lr=0.01, momentum=0.8, centered=True), None),
    "adam": (Adam(lr=0.01), None),
    "adam_amsgrad_clip_norm": (Adam(lr=0.01, amsgrad=True), ClipSpec(by="norm", threshold=0.2)),
    "adamw": (AdamW(lr=0.01, weight_decay=0.1), None),
    "adamw_amsgrad": (AdamW(lr=0.01, amsgrad=True), None),
}


@pytest.mark.parametrize("config", CONFIGS)
def test_clipped_penalised_steps_with_a_changing_rate_agree_with_numpy(
    backend: Backend, config: str
) -> None:
    spec, clip = CONFIGS[config]
    results = []
    for each in (get_backend("numpy"), backend):
        compiled = each.compile(MLP, dtype="float64", seed=2)
        step = compiled.train_step(SoftmaxCrossEntropy(), spec, clip)
        assert isinstance(step, TrainStep)
        for index, (x, t) in enumerate(_batches((4,))):
            step.step(x, t, spec.lr * (1 - index / 10))  # the loop may change the rate
        results.append((compiled.parameters(), step.optimizer_state(), step.drain()))
    (want, want_state, want_stats), (got, got_state, got_stats) = results
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
    assert sorted(got_state) == sorted(want_state)
    for name, value in want_state.items():
        np.testing.assert_allclose(got_state[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
    assert int(got_state["step"]) == STEPS
    assert got_stats.loss_sum == pytest.approx(want_stats.loss_sum, rel=1e-10)
    # max_norm holds every row of the first weight to 0.9 after each step.
    assert np.all(np.linalg.norm(got["dense_1.weight"], axis=1) <= 0.9 + 1e-9)


def test_a_conv_net_with_batchnorm_and_max_norm_filters_trains_like_numpy(
    backend: Backend,
) -> None:
    model = _model(
        (2, 6, 6),
        "conv2d(4, 3, padding = same, regularize = max_norm(0.5)) -> batchnorm -> relu\n"
        "maxpool(2) -> flatten -> dense(3, regularize = l2(0.05))",
    )
    spec = Sgd(lr=0.1, momentum=0.9)
    results = []
    for each in (get_backend("numpy"), backend):
        compiled = each.compile(model, dtype="float64", seed=5)
        step = compiled.train_step(SoftmaxCrossEntropy(), spec)
        for x, t in _batches((2, 6, 6), 5):
            step.step(x, t, 0.1)
        results.append({**compiled.parameters(), **compiled.state()})
    want, got = results
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-8, atol=1e-10, err_msg=name)
    filters = got["conv2d_1.weight"].reshape(4, -1)
    assert np.all(np.linalg.norm(filters, axis=1) <= 0.5 + 1e-9)


# -- the step's statistics -------------------------------------------------------------------


def test_statistics_hold_the_data_loss_and_hits_until_drained(backend: Backend) -> None:
    compiled = backend.compile(MLP, dtype="float64")
    probe = backend.compile(MLP, dtype="float64")
    step = compiled.train_step(SoftmaxCrossEntropy(), Sgd(lr=0.1))
    loss_sum, hits = 0.0, 0
    for x, t in _batches((4,), 3):
        params = compiled.parameters()
        probe.set_parameters(params)
        hits += int(np.sum(probe.forward(x, train=True).argmax(axis=1) == t))
        total = probe.loss_and_grads(x, t, SoftmaxCrossEntropy())[0]
        # The statistics hold the data loss alone, without the penalties.
        first, second = params["dense_1.weight"], params["dense_2.weight"]
        penalties = 0.005 * (np.sum(first**2) + np.sum(second**2)) + 0.002 * np.sum(abs(second))
        loss_sum += 8 * (total - penalties)
        step.step(x, t, 0.1)
    stats = step.drain()
    assert (stats.samples, stats.correct, stats.first_nonfinite) == (24, hits, -1)
    assert stats.loss_sum == pytest.approx(loss_sum, rel=1e-12)
    assert step.drain().samples == 0


def test_hits_count_class_labels_and_one_hot_rows(backend: Backend) -> None:
    model = _model((2,), "dense(2, weight = [[1, 0], [0, 1]], bias = [0, 0])")
    step = backend.compile(model, dtype="float64").train_step(SoftmaxCrossEntropy(), Sgd(lr=0.0))
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    step.step(x, np.array([0, 1, 1]), 0.0)  # predictions 0, 1, 0: two hits
    step.step(x, np.array([[1.0, 0], [1, 0], [1, 0]]), 0.0)  # one-hot targets: two hits
    stats = step.drain()
    assert (stats.samples, stats.correct) == (6, 4)


def test_binary_outputs_count_hits_and_regression_counts_none(backend: Backend) -> None:
    compiled = backend.compile(_model((1,), "dense(1, weight = [[1]], bias = [0])"))
    x = np.array([[2.0], [-1.0], [0.5]])
    binary = compiled.train_step(BinaryCrossEntropy(), Sgd(lr=0.0))
    binary.step(x, np.array([1.0, 1.0, 1.0]), 0.0)  # targets [N] for output [N, 1]
    assert binary.drain().correct == 2
    regression = compiled.train_step(MeanSquaredError(), Sgd(lr=0.0))
    regression.step(x, np.zeros(3), 0.0)
    stats = regression.drain()
    assert (stats.samples, stats.correct) == (3, 0)
    assert stats.loss_sum == pytest.approx(4 + 1 + 0.25)


def test_the_first_non_finite_step_is_reported(backend: Backend) -> None:
    step = backend.compile(MLP).train_step(SoftmaxCrossEntropy(), Adam(lr=0.1))
    good, t = np.ones((2, 4)), np.array([0, 1])
    step.step(good, t, 0.1)
    step.step(np.full((2, 4), np.nan), t, 0.1)
    step.step(good, t, 0.1)
    stats = step.drain()
    assert (stats.first_nonfinite, stats.samples) == (1, 6)
    assert not np.isfinite(stats.loss_sum)
    # The weights are NaN from then on: every later step is non-finite, counted from 0.
    step.step(good, t, 0.1)
    assert step.drain().first_nonfinite == 0
