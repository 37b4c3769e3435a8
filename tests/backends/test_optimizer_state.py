"""The optimizer state, written once and run on every backend (netspec.optimizers).

The same keys for the same settings and step on every backend, one rule for step 0,
one type and one message for each bad state, and every optimizer and loss kind of the
IR unions in every framework's tables.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import netspec
from netspec.backend import Backend, CompiledModel, get_backend
from netspec.errors import NetspecError, ShapeError
from netspec.ir.train import (
    Adagrad,
    Adam,
    AdamW,
    LossSpec,
    OptimizerSpec,
    Rmsprop,
    Sgd,
    SoftmaxCrossEntropy,
)
from netspec.optimizers import BUFFERS
from tests.backends.conftest import backend_params

NET = netspec.load(
    "netspec 1\nmodel m(x: [4]) { dense(5, bias = false) -> batchnorm -> tanh -> dense(3) }"
).model("m")
RNGS = [np.random.default_rng(i) for i in range(3)]
BATCHES = [(rng.normal(size=(6, 4)), rng.integers(0, 3, 6)) for rng in RNGS]
X, Y = BATCHES[0]


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> Backend:
    return get_backend(request.param)


def _compile(backend: Backend, seed: int = 0) -> CompiledModel:
    return backend.compile(NET, dtype="float64", seed=seed)


PARAMS = [spec.name for spec in NET.params]
# Every setting that changes the buffers kept, with torch.optim's names for them.
BUFFER_CASES: list[tuple[OptimizerSpec, tuple[str, ...]]] = [
    (Sgd(lr=0.1), ()),
    (Sgd(lr=0.1, momentum=0.9), ("momentum_buffer",)),
    (Adagrad(lr=0.1, initial_accumulator_value=0.5), ("sum",)),
    (Rmsprop(), ("square_avg",)),
    (Rmsprop(momentum=0.5, centered=True), ("square_avg", "momentum_buffer", "grad_avg")),
    (Adam(lr=0.01), ("exp_avg", "exp_avg_sq")),
    (AdamW(lr=0.01, amsgrad=True), ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")),
]


@pytest.mark.parametrize(("optimizer", "buffers"), BUFFER_CASES, ids=lambda c: str(c))
def test_optimizer_state_keys_are_the_same_everywhere(
    backend: Backend, optimizer: OptimizerSpec, buffers: tuple[str, ...]
) -> None:
    step = _compile(backend, 4).train_step(SoftmaxCrossEntropy(), optimizer)
    # Step 0: no buffers yet, on every backend (torch.optim makes them at the first update).
    assert set(step.optimizer_state()) == {"step"}
    for x, y in BATCHES[:2]:
        step.step(x, y, optimizer.lr)
    state = step.optimizer_state()
    assert set(state) == {"step"} | {f"{p}.{b}" for p in PARAMS for b in buffers}
    assert state["step"].dtype == np.int64 and int(state["step"]) == 2


@pytest.mark.parametrize(("optimizer", "buffers"), BUFFER_CASES[1:3], ids=lambda c: str(c))
def test_a_state_of_step_zero_restarts_the_optimizer(
    backend: Backend, optimizer: OptimizerSpec, buffers: tuple[str, ...]
) -> None:
    fresh = _compile(backend, 5)
    fresh_step = fresh.train_step(SoftmaxCrossEntropy(), optimizer)
    start = fresh_step.optimizer_state()
    used = _compile(backend, 5)
    used_step = used.train_step(SoftmaxCrossEntropy(), optimizer)
    used_step.step(*BATCHES[0], optimizer.lr)
    used.set_parameters(fresh.parameters())
    used_step.load_optimizer_state(start)
    for step in (fresh_step, used_step):
        for x, y in BATCHES[1:]:
            step.step(x, y, optimizer.lr)
    for name, value in fresh.parameters().items():
        assert np.array_equal(used.parameters()[name], value), name


HELP = "\n  help: load a state saved by optimizer_state() of the same model and optimizer settings"
W = "dense_1.weight"
BAD_STATES: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], type, str]] = {
    "unknown_param": (
        lambda s: {**s, "dense_9.weight.exp_avg": s[f"{W}.exp_avg"]},
        NetspecError,
        "optimizer state 'dense_9.weight.exp_avg' names no parameter of model 'm'\n  help: keys "
        "are <parameter>.<buffer> or 'step'; the parameters are: " + ", ".join(PARAMS),
    ),
    "unknown_buffer": (
        lambda s: {**s, f"{W}.momentum_buffer": s[f"{W}.exp_avg"]},
        NetspecError,
        f"optimizer state '{W}.momentum_buffer' has buffer 'momentum_buffer', expected "
        "'exp_avg', 'exp_avg_sq' for adam with these settings" + HELP,
    ),
    "missing_buffer": (
        lambda s: {k: v for k, v in s.items() if k != f"{W}.exp_avg_sq"},
        NetspecError,
        f"optimizer state lacks '{W}.exp_avg_sq' at step 1, expected 'exp_avg', 'exp_avg_sq' "
        "for adam with these settings" + HELP,
    ),
    "wrong_shape": (
        lambda s: {**s, f"{W}.exp_avg": np.zeros(2)},
        ShapeError,
        f"optimizer state '{W}.exp_avg' has shape (2,), expected (5, 4) like '{W}'" + HELP,
    ),
    "strings": (
        lambda s: {**s, f"{W}.exp_avg": np.full((5, 4), "a")},
        ShapeError,
        f"optimizer state '{W}.exp_avg' has dtype <U1, expected real numbers" + HELP,
    ),
    "missing_step": (
        lambda s: {k: v for k, v in s.items() if k != "step"},
        NetspecError,
        "optimizer state has no 'step' entry, expected the number of updates taken" + HELP,
    ),
    "negative_step": (
        lambda s: {**s, "step": np.array(-1)},
        NetspecError,
        "optimizer state 'step' is -1, expected a whole number >= 0" + HELP,
    ),
    "fractional_step": (
        lambda s: {**s, "step": np.array(1.5)},
        NetspecError,
        "optimizer state 'step' is 1.5, expected a whole number >= 0" + HELP,
    ),
    "text_step": (
        lambda s: {**s, "step": "one"},
        NetspecError,
        "optimizer state 'step' is 'one' (str), expected a whole number >= 0" + HELP,
    ),
    "buffers_at_step_zero": (
        lambda s: {**s, "step": np.array(0)},
        NetspecError,
        "optimizer state 'batchnorm_1.bias.exp_avg' is a buffer at step 0, expected none"
        "\n  help: an optimizer keeps buffers only after its first update; drop them, or give "
        "the step they were saved at",
    ),
}


@pytest.mark.parametrize("case", BAD_STATES)
def test_a_bad_optimizer_state_raises_one_message_everywhere(backend: Backend, case: str) -> None:
    edit, kind, message = BAD_STATES[case]
    step = _compile(backend).train_step(SoftmaxCrossEntropy(), Adam(lr=0.01))
    step.step(X, Y, 0.01)
    saved = step.optimizer_state()
    with pytest.raises(NetspecError) as info:
        step.load_optimizer_state(edit(saved))
    assert type(info.value) is kind
    assert str(info.value) == message
    step.load_optimizer_state(saved)  # a refused state left the step as it was
    assert int(step.optimizer_state()["step"]) == 1


# Where each framework keeps its table of optimizer updates, losses and top-1 hits.
TABLES = {
    "numpy": {"OPTIMIZERS": "_train", "LOSSES": "_losses", "HITS": "_train"},
    "torch": {"OPTIMIZERS": "_train", "LOSSES": "_losses", "HITS": "_train"},
    "jax": {"OPTIMIZERS": "_optim", "LOSSES": "_losses", "HITS": "_train"},
}


def _union_kinds(union: object) -> set[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return {member.model_fields["kind"].default for member in members}


def test_every_optimizer_and_loss_kind_is_in_every_table(backend: Backend) -> None:
    kinds = {"OPTIMIZERS": _union_kinds(OptimizerSpec)}
    kinds["LOSSES"] = kinds["HITS"] = _union_kinds(LossSpec)
    assert set(BUFFERS) == kinds["OPTIMIZERS"]
    for table, module in TABLES[backend.name].items():
        entries = getattr(
            importlib.import_module(f"netspec.backends.{backend.name}.{module}"), table
        )
        assert set(entries) == kinds[table], f"{backend.name} {module}.{table}"
