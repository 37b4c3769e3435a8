"""The backend contract, written once and run on every backend (netspec.backend).

Losses and their gradients against formulas written here in NumPy; the fused train step
against ``loss_and_grads`` and against the NumPy backend; the optimizer state's round
trip; and bad inputs, which raise the same type with the same message everywhere. The
optimizer state's keys and validation are in test_optimizer_state.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import netspec
from netspec.backend import Backend, CompiledModel, get_backend
from netspec.errors import NetspecError, ShapeError, UnknownNameError, UnsupportedOpError
from netspec.ir import CheckedModel
from netspec.ir.train import (
    Adagrad,
    Adam,
    AdamW,
    BinaryCrossEntropy,
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

BACKEND_PARAMS = backend_params()
N, CLASSES = 6, 3


def _model(body: str, shape: str = "4") -> CheckedModel:
    return netspec.load(f"netspec 1\nmodel m(x: [{shape}]) {{ {body} }}").model("m")


IDENTITY = _model("identity", str(CLASSES))
# Parameters, batchnorm state and a non-linearity, and nothing random; no bias before the
# batchnorm, whose gradient would be rounding noise.
NET = _model("dense(5, bias = false) -> batchnorm -> tanh -> dense(3)")


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return get_backend(request.param)


def _compile(backend: Backend, model: CheckedModel, **options: Any) -> CompiledModel:
    return backend.compile(model, dtype="float64", **options)


# -- losses ----------------------------------------------------------------------------


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _cross_entropy_indices(z: np.ndarray, t: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    p, rows = _softmax(z), np.arange(len(t))
    weights = w[t]
    onehot = np.eye(z.shape[1])[t]
    loss = -np.sum(weights * np.log(p[rows, t])) / weights.sum()
    return float(loss), weights[:, None] * (p - onehot) / weights.sum()


# (loss, targets from a generator, the loss and its gradient for the output by hand)
Formula = Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]
LOSSES: dict[str, tuple[LossSpec | str, Callable[[np.random.Generator], np.ndarray], Formula]] = {
    "cross_entropy_indices": (
        SoftmaxCrossEntropy(),
        lambda rng: rng.integers(0, CLASSES, N),
        lambda z, t: _cross_entropy_indices(z, t, np.ones(CLASSES)),
    ),
    "cross_entropy_by_name": (
        "softmax_cross_entropy",
        lambda rng: rng.integers(0, CLASSES, N),
        lambda z, t: _cross_entropy_indices(z, t, np.ones(CLASSES)),
    ),
    "cross_entropy_whole_float_labels": (
        SoftmaxCrossEntropy(),
        lambda rng: rng.integers(0, CLASSES, N).astype(np.float64),
        lambda z, t: _cross_entropy_indices(z, t.astype(int), np.ones(CLASSES)),
    ),
    "cross_entropy_weighted": (
        SoftmaxCrossEntropy(class_weights=(1.0, 2.0, 0.5)),
        lambda rng: rng.integers(0, CLASSES, N),
        lambda z, t: _cross_entropy_indices(z, t, np.array([1.0, 2.0, 0.5])),
    ),
    "cross_entropy_probabilities": (
        SoftmaxCrossEntropy(),
        lambda rng: _softmax(rng.normal(size=(N, CLASSES))),
        lambda z, t: (
            float(-np.sum(t * np.log(_softmax(z))) / N),
            (_softmax(z) - t) / N,
        ),
    ),
    "cross_entropy_weighted_probabilities": (
        # Weighted like torch: sum_c w_c t_c nll_c, divided by N (not by the weights).
        SoftmaxCrossEntropy(class_weights=(1.0, 2.0, 0.5)),
        lambda rng: _softmax(rng.normal(size=(N, CLASSES))),
        lambda z, t: (
            float(-np.sum(np.array([1.0, 2.0, 0.5]) * t * np.log(_softmax(z))) / N),
            (_softmax(z) * (t @ np.array([1.0, 2.0, 0.5]))[:, None] - np.array([1.0, 2.0, 0.5]) * t)
            / N,
        ),
    ),
    "binary_cross_entropy": (
        BinaryCrossEntropy(),
        lambda rng: rng.integers(0, 2, (N, CLASSES)).astype(bool),
        lambda z, t: (
            float(np.mean(np.logaddexp(0, z) - t * z)),
            (_sigmoid(z) - t) / z.size,
        ),
    ),
    "binary_cross_entropy_soft_targets": (
        BinaryCrossEntropy(),
        lambda rng: rng.uniform(size=(N, CLASSES)),
        lambda z, t: (
            float(np.mean(np.logaddexp(0, z) - t * z)),
            (_sigmoid(z) - t) / z.size,
        ),
    ),
    "mse": (
        MeanSquaredError(),
        lambda rng: rng.normal(size=(N, CLASSES)),
        lambda z, t: (float(np.mean((z - t) ** 2)), 2 * (z - t) / z.size),
    ),
    "half_sse": (
        HalfSumSquaredError(),
        lambda rng: rng.normal(size=(N, CLASSES)),
        lambda z, t: (float(0.5 * np.sum((z - t) ** 2) / N), (z - t) / N),
    ),
    "l1": (
        MeanAbsoluteError(),
        lambda rng: rng.normal(size=(N, CLASSES)),
        lambda z, t: (float(np.mean(np.abs(z - t))), np.sign(z - t) / z.size),
    ),
}


@pytest.mark.parametrize("case", LOSSES)
def test_loss_and_its_gradient_match_the_formula(backend: Backend, case: str) -> None:
    # Through an identity model the input gradient is the loss's gradient for the output.
    loss, targets, formula = LOSSES[case]
    rng = np.random.default_rng(len(case))
    z, t = rng.normal(size=(N, CLASSES)), targets(rng)
    value, grads = _compile(backend, IDENTITY).loss_and_grads(z, t, loss, input_grad=True)
    want_value, want_grad = formula(z, t)
    assert value == pytest.approx(want_value, rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(grads["x"], want_grad, rtol=1e-10, atol=1e-14)


# -- the train step --------------------------------------------------------------------

BATCHES = [
    (np.random.default_rng(i).normal(size=(N, 4)), np.random.default_rng(i).integers(0, 3, N))
    for i in range(3)
]
OPTIMIZERS: list[OptimizerSpec] = [
    Sgd(lr=0.1, momentum=0.9, nesterov=True),
    Adagrad(lr=0.1),
    Rmsprop(lr=0.01, momentum=0.5, centered=True),
    Adam(lr=0.01, amsgrad=True),
    AdamW(lr=0.01),
]


def test_a_plain_sgd_step_subtracts_lr_times_the_gradient(backend: Backend) -> None:
    x, y = BATCHES[0]
    probe = _compile(backend, NET, seed=1)
    loss, grads = probe.loss_and_grads(x, y, "softmax_cross_entropy", train=True)
    model = _compile(backend, NET, seed=1)
    before = model.parameters()
    step = model.train_step(SoftmaxCrossEntropy(), Sgd(lr=0.5))
    step.step(x, y, 0.5)
    stats = step.drain()
    after = model.parameters()
    for name, value in before.items():
        np.testing.assert_allclose(after[name], value - 0.5 * grads[name], rtol=1e-9, atol=1e-12)
    # Running statistics moved as in the probe's training-mode pass.
    for name, value in probe.state().items():
        np.testing.assert_allclose(model.state()[name], value, rtol=1e-12, atol=1e-14)
    assert stats.samples == N and stats.first_nonfinite == -1
    assert stats.loss_sum == pytest.approx(loss * N, rel=1e-10)
    # Top-1 hits are counted on the training-mode output before the update.
    output = _compile(backend, NET, seed=1).forward(x, train=True)
    assert stats.correct == int((output.argmax(axis=1) == y).sum())
    assert step.drain().samples == 0  # drained statistics start again from nothing


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o.kind)
def test_train_steps_agree_with_the_numpy_backend(
    backend: Backend, optimizer: OptimizerSpec
) -> None:
    results = []
    for each in (get_backend("numpy"), backend):
        model = _compile(each, NET, seed=2)
        step = model.train_step(SoftmaxCrossEntropy(), optimizer)
        for x, y in BATCHES:
            step.step(x, y, optimizer.lr)
        results.append((model.parameters(), step.optimizer_state(), step.drain()))
    (want, want_state, want_stats), (got, got_state, got_stats) = results
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12, err_msg=name)
    assert sorted(got_state) == sorted(want_state)  # the same buffer names
    for name in want_state:
        np.testing.assert_allclose(got_state[name], want_state[name], rtol=1e-9, atol=1e-12)
    assert got_stats.samples == want_stats.samples == N * len(BATCHES)
    assert got_stats.correct == want_stats.correct
    assert got_stats.loss_sum == pytest.approx(want_stats.loss_sum, rel=1e-10)


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o.kind)
def test_optimizer_state_round_trip_resumes_bit_exactly(
    backend: Backend, optimizer: OptimizerSpec
) -> None:
    loss = SoftmaxCrossEntropy()
    straight = _compile(backend, NET, seed=3)
    through = straight.train_step(loss, optimizer)
    for x, y in BATCHES[:2]:
        through.step(x, y, optimizer.lr)
    saved = {k: v.copy() for k, v in through.optimizer_state().items()}
    assert int(saved["step"]) == 2
    assert all(k == "step" or k.rpartition(".")[0] in straight.parameters() for k in saved)
    resumed = _compile(backend, NET, params={**straight.parameters(), **straight.state()})
    again = resumed.train_step(loss, optimizer)
    again.load_optimizer_state(saved)
    for step in (through, again):
        step.step(*BATCHES[2], optimizer.lr)
        step.drain()
    for name, value in straight.parameters().items():
        assert np.array_equal(resumed.parameters()[name], value), name
    for name, value in through.optimizer_state().items():
        assert np.array_equal(again.optimizer_state()[name], value), name


# -- bad inputs: one type and one message on every backend --------------------------------

X, Y = BATCHES[0]
BAD_BATCHES = {
    "one_sample_without_batch_axis": (
        X[0],
        "batch for input 'x' has shape (4,), expected (N, 4)\n"
        "  help: this is one sample; add the batch axis with x[None]",
    ),
    "wrong_sample_shape": (
        X[:, :3],
        "batch for input 'x' has shape (6, 3), expected (N, 4)\n"
        "  help: each sample must have shape (4,)",
    ),
    "empty": (X[:0], "batch for input 'x' is empty (shape (0, 4)), expected (N, 4) with N >= 1"),
    "strings": (
        np.full((N, 4), "a"),
        "batch for input 'x' has dtype <U1, expected real numbers (cast to float64)\n"
        "  help: convert it first, e.g. x.astype(np.float64)",
    ),
    "complex": (
        X.astype(np.complex128),
        "batch for input 'x' has dtype complex128, expected real numbers (cast to float64)\n"
        "  help: convert it first, e.g. x.astype(np.float64)",
    ),
    "booleans": (
        X > 0,
        "batch for input 'x' has dtype bool, expected real numbers (cast to float64)\n"
        "  help: convert it first, e.g. x.astype(np.float64)",
    ),
}


def _entry_points(model: CompiledModel, y: object) -> dict[str, Callable[[object], object]]:
    step = model.train_step(SoftmaxCrossEntropy(), Sgd())
    return {
        "forward": model.forward,
        "trace": model.trace,
        "loss_and_grads": lambda x: model.loss_and_grads(x, y, "softmax_cross_entropy"),
        "train_step": lambda x: step.step(x, y, 0.1),
    }


@pytest.mark.parametrize("case", BAD_BATCHES)
def test_a_bad_batch_raises_one_message_everywhere(backend: Backend, case: str) -> None:
    x, message = BAD_BATCHES[case]
    for entry, call in _entry_points(_compile(backend, NET), Y).items():
        with pytest.raises(ShapeError) as info:
            call(x)
        assert str(info.value) == message, entry


def test_a_batch_of_one_through_a_single_value_batchnorm_in_training(backend: Backend) -> None:
    model = _compile(backend, _model("dense(1) -> batchnorm -> dense(3)"))
    for entry, call in _entry_points(model, Y[:1]).items():
        if entry in ("forward", "trace"):
            call = (lambda f: lambda x: f(x, train=True))(call)
        with pytest.raises(ShapeError) as info:
            call(X[:1])
        assert info.value.message == (
            "batchnorm 'batchnorm_1' in training mode needs more than one value per feature, "
            "got a batch of 1 sample of shape (4,)"
        ), entry
        assert info.value.help == (
            "use a batch of at least 2 samples, or train=False to use the running statistics",
        )
    assert model.forward(X[:1]).shape == (1, 3)  # eval mode uses the running statistics


BAD_TARGETS = {
    "label_too_big": (
        SoftmaxCrossEntropy(),
        np.full(N, 3),
        "class labels for softmax_cross_entropy must be whole numbers in [0, 3), got 3\n"
        "  help: the model's output has 3 classes; labels index them from 0",
    ),
    "fractional_label": (
        SoftmaxCrossEntropy(),
        np.full(N, 0.5),
        "class labels for softmax_cross_entropy must be whole numbers in [0, 3), got 0.5\n"
        "  help: the model's output has 3 classes; labels index them from 0",
    ),
    "one_label_short": (
        SoftmaxCrossEntropy(),
        Y[:-1],
        "targets for softmax_cross_entropy have shape (5,), expected (6,) (class indices) or "
        "(6, 3) (probabilities)\n  help: pass integer labels, one per sample, or one-hot rows",
    ),
    "label_negative": (
        SoftmaxCrossEntropy(),
        np.full(N, -1),
        "class labels for softmax_cross_entropy must be whole numbers in [0, 3), got -1\n"
        "  help: the model's output has 3 classes; labels index them from 0",
    ),
    "a_column_of_labels": (
        SoftmaxCrossEntropy(),
        Y[:, None],
        "targets for softmax_cross_entropy have shape (6, 1), expected (6,) (class indices) or "
        "(6, 3) (probabilities)\n  help: pass integer labels, one per sample, or one-hot rows",
    ),
    "probabilities_too_wide": (
        SoftmaxCrossEntropy(),
        np.full((N, 4), 0.25),
        "targets for softmax_cross_entropy have shape (6, 4), expected (6,) (class indices) or "
        "(6, 3) (probabilities)\n  help: pass integer labels, one per sample, or one-hot rows",
    ),
    "class_weights": (
        SoftmaxCrossEntropy(class_weights=(1.0, 2.0)),
        Y,
        "softmax_cross_entropy has 2 class_weights, expected one per class (3)\n"
        "  help: give class_weights as many entries as the output has classes",
    ),
    "regression_shape": (
        MeanSquaredError(),
        Y,
        "targets for mse have shape (6,), expected (6, 3) (the output's shape with the batch "
        "axis)\n  help: one target per output value, batch axis first",
    ),
    "strings": (
        BinaryCrossEntropy(),
        np.full((N, 3), "a"),
        "targets for binary_cross_entropy have dtype <U1, expected real numbers",
    ),
    "complex": (
        MeanSquaredError(),
        np.zeros((N, 3), dtype=complex),
        "targets for mse have dtype complex128, expected real numbers",
    ),
}


@pytest.mark.parametrize("case", BAD_TARGETS)
def test_bad_targets_raise_one_message_everywhere(backend: Backend, case: str) -> None:
    loss, y, message = BAD_TARGETS[case]
    model = _compile(backend, NET)
    calls = {
        "loss_and_grads": lambda: model.loss_and_grads(X, y, loss),
        "train_step": lambda: model.train_step(loss, Sgd()).step(X, y, 0.1),
    }
    for entry, call in calls.items():
        with pytest.raises(ShapeError) as info:
            call()
        assert str(info.value) == message, entry


UNKNOWN_LOSS = (
    "unknown loss 'binary_crossentropy': expected one of softmax_cross_entropy, "
    "binary_cross_entropy, mse, half_sse, l1, or a loss object of netspec.ir.train such as "
    "SoftmaxCrossEntropy()"
)
CLOSE_LOSS = "'binary_cross_entropy'"
UNKNOWN_OPTIMIZER = (
    "unknown optimizer 'adamm': expected one of sgd, adagrad, rmsprop, adam, adamw, or an "
    "optimizer object of netspec.ir.train such as Adam(lr=0.001)"
)


def test_unknown_loss_and_optimizer_names(backend: Backend) -> None:
    model = _compile(backend, NET)
    named: Any = model  # names where the protocol's types say objects
    calls = [
        (lambda: model.loss_and_grads(X, Y, "binary_crossentropy"), UNKNOWN_LOSS, CLOSE_LOSS),
        (lambda: named.train_step("binary_crossentropy", Sgd()), UNKNOWN_LOSS, CLOSE_LOSS),
        (lambda: named.train_step(MeanSquaredError(), "adamm"), UNKNOWN_OPTIMIZER, "'adam'"),
    ]
    for call, message, close in calls:
        with pytest.raises(UnknownNameError) as info:
            call()
        assert isinstance(info.value, ValueError)
        assert info.value.message == message
        assert info.value.help == (f"did you mean {close}?",)
    # A name of the spec language stands for that object with its default arguments.
    step = named.train_step("mse", "adam")
    step.step(X, np.zeros((N, 3)), 0.1)
    assert step.drain().samples == N


def test_an_op_kind_without_a_lowering(backend: Backend) -> None:
    class Nonesuch:
        """An op kind no backend knows (as a new IR op before its lowerings exist)."""

        kind = "nonesuch"

    node = IDENTITY.nodes[0]
    model = IDENTITY.model_copy(update={"nodes": (node.model_copy(update={"op": Nonesuch()}),)})
    with pytest.raises(UnsupportedOpError) as info:
        _compile(backend, model).forward(np.zeros((2, CLASSES)))
    assert str(info.value) == f"the {backend.name} backend has no lowering for op kind 'nonesuch'"
    assert isinstance(info.value, NotImplementedError | NetspecError)


def test_an_unknown_dtype_or_an_unchecked_model(backend: Backend) -> None:
    with pytest.raises(NetspecError) as info:
        backend.compile(NET, dtype="float16")  # type: ignore[arg-type]
    assert str(info.value) == (
        "unknown dtype 'float16': expected 'float32' or 'float64'\n"
        "  help: pass dtype='float32' (the default) or dtype='float64' for exact comparisons"
    )
    program: Any = netspec.load("netspec 1\nmodel m(x: [2]) { relu }")
    with pytest.raises(NetspecError) as info:
        backend.compile(program)
    assert str(info.value) == (
        "a backend compiles a CheckedModel, got Program\n"
        "  help: pass program.model() (or program.model(name)) from netspec.load(...)"
    )


def test_an_unknown_backend() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_backend("pytorch")
    assert str(info.value) == (
        "unknown backend 'pytorch': expected one of numpy, torch, jax\n"
        "  help: did you mean 'torch'?"
    )


# -- bad batches that need another input shape ---------------------------------------------


def test_a_batch_that_is_not_an_array_or_has_flattened_samples(backend: Backend) -> None:
    model = _compile(backend, _model("conv2d(3, 3) -> flatten -> dense(3)", "2, 5, 5"))
    with pytest.raises(ShapeError) as info:
        model.forward([[1, 2], [3]])  # type: ignore[arg-type]
    assert str(info.value).startswith("batch for input 'x' is not an array: ")
    with pytest.raises(ShapeError) as info:
        model.forward(np.zeros((4, 50)))
    assert str(info.value) == (
        "batch for input 'x' has shape (4, 50), expected (N, 2, 5, 5)\n"
        "  help: reshape each sample: x.reshape(4, 2, 5, 5)"
    )
