"""Each optimizer's framework-free facts, and the one check of a saved optimizer state.

An optimizer keeps buffers per parameter under PyTorch's ``torch.optim`` names
(``momentum_buffer``, ``sum``, ``square_avg``, ``grad_avg``, ``exp_avg``, ``exp_avg_sq``,
``max_exp_avg_sq``); which ones depends on its settings (sgd keeps none without momentum).
:data:`BUFFERS`, keyed by the IR's optimizer kind, says which, and what they start as.

An optimizer state, as ``optimizer_state()`` of every backend returns it, is a flat dict:
``step`` (the number of updates taken, an int64 scalar) and ``<parameter>.<buffer>``.
Step 0 is one rule on every backend: an optimizer that has not yet updated keeps no
buffers (PyTorch makes them at the first update), so a state of step 0 is ``step`` alone
and loading it restarts the optimizer. From step 1 on the state holds every buffer of the
settings for every parameter. :func:`check_optimizer_state` is the one validation all
backends' ``load_optimizer_state`` call, so a bad state gets one type and one message.
Framework-free: only NumPy and the IR.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from netspec._validate import found
from netspec.errors import NetspecError, ShapeError
from netspec.ir.train import OptimizerSpec


@dataclass(frozen=True)
class BufferRule:
    """The per-parameter buffers of one optimizer kind: their names for given settings,
    in the order the update makes them, and the value they start as."""

    names: Callable[[Any], tuple[str, ...]]
    fill: Callable[[Any], float] = lambda spec: 0.0


def _adam(spec: Any) -> tuple[str, ...]:
    return ("exp_avg", "exp_avg_sq") + ("max_exp_avg_sq",) * spec.amsgrad


BUFFERS: dict[str, BufferRule] = {
    "sgd": BufferRule(lambda s: ("momentum_buffer",) * (s.momentum != 0.0)),
    "adagrad": BufferRule(lambda s: ("sum",), lambda s: s.initial_accumulator_value),
    "rmsprop": BufferRule(
        lambda s: (
            ("square_avg",) + ("momentum_buffer",) * (s.momentum > 0.0) + ("grad_avg",) * s.centered
        )
    ),
    "adam": BufferRule(_adam),
    "adamw": BufferRule(_adam),
}


def buffer_names(spec: OptimizerSpec) -> tuple[str, ...]:
    """The buffers ``spec`` keeps per parameter once it has updated (besides ``step``)."""
    return BUFFERS[spec.kind].names(spec)


def buffer_fill(spec: OptimizerSpec) -> float:
    """The value every buffer of ``spec`` starts as (adagrad's initial_accumulator_value)."""
    return BUFFERS[spec.kind].fill(spec)


def pack_state(step: int, buffers: Mapping[str, Mapping[str, object]]) -> dict[str, Any]:
    """An optimizer state from ``{param: {buffer: array}}``: no buffers at step 0."""
    state: dict[str, Any] = {
        f"{name}.{buffer}": value
        for name, each in buffers.items()
        for buffer, value in each.items()
        if step
    }
    state["step"] = np.array(step, dtype=np.int64)
    return state


NO_STEP = "optimizer state has no 'step' entry, expected the number of updates taken"
BAD_STEP = "optimizer state 'step' is {got}, expected a whole number >= 0"
STATE_HELP = "load a state saved by optimizer_state() of the same model and optimizer settings"
UNKNOWN_PARAM = "optimizer state {key!r} names no parameter of model {model!r}"
UNKNOWN_PARAM_HELP = "keys are <parameter>.<buffer> or 'step'; the parameters are: {names}"
UNKNOWN_BUFFER = "optimizer state {key!r} has buffer {buffer!r}, expected {expected} for {settings}"
EARLY_BUFFER = "optimizer state {key!r} is a buffer at step 0, expected none"
EARLY_BUFFER_HELP = (
    "an optimizer keeps buffers only after its first update; drop them, or give the step "
    "they were saved at"
)
MISSING_BUFFER = "optimizer state lacks {key!r} at step {step}, expected {expected} for {settings}"
BAD_BUFFER_SHAPE = "optimizer state {key!r} has shape {got}, expected {expected} like {name!r}"
BAD_BUFFER_DTYPE = "optimizer state {key!r} has dtype {got}, expected real numbers"


def check_optimizer_state(
    state: Mapping[str, object],
    spec: OptimizerSpec,
    params: Mapping[str, tuple[int, ...]],
    model: str,
) -> tuple[int, dict[str, dict[str, np.ndarray]]]:
    """The step and ``{param: {buffer: array}}`` of a saved state, checked against the
    model's parameter shapes ``params`` and the optimizer's settings; the buffers are
    empty at step 0. A bad state raises NetspecError (ShapeError for a buffer's shape or
    dtype) with what was expected and what was found."""
    if "step" not in state:
        raise NetspecError(NO_STEP, help=STATE_HELP)
    step = _step(state["step"])
    names = buffer_names(spec)
    settings = f"{spec.kind} with these settings"
    expected = ", ".join(repr(name) for name in names) or "no buffer"
    buffers: dict[str, dict[str, np.ndarray]] = {name: {} for name in params}
    for key in sorted(state):  # sorted: the first fault found is the same whatever the order
        value = state[key]
        if key == "step":
            continue
        name, _, buffer = key.rpartition(".")
        if name not in params:
            shown = ", ".join(list(params)[:8]) + (", ..." if len(params) > 8 else "")
            raise NetspecError(
                UNKNOWN_PARAM.format(key=key, model=model),
                help=UNKNOWN_PARAM_HELP.format(names=shown or "none"),
            )
        if buffer not in names:
            message = UNKNOWN_BUFFER.format(
                key=key, buffer=buffer, expected=expected, settings=settings
            )
            raise NetspecError(message, help=STATE_HELP)
        if not step:
            raise NetspecError(EARLY_BUFFER.format(key=key), help=EARLY_BUFFER_HELP)
        array = np.asarray(value)
        if array.shape != tuple(params[name]):
            raise ShapeError(
                BAD_BUFFER_SHAPE.format(
                    key=key, got=array.shape, expected=tuple(params[name]), name=name
                ),
                help=STATE_HELP,
            )
        if array.dtype.kind not in "iuf":
            raise ShapeError(BAD_BUFFER_DTYPE.format(key=key, got=array.dtype), help=STATE_HELP)
        buffers[name][buffer] = array
    for name in params if step else ():
        for buffer in names:
            if buffer not in buffers[name]:
                message = MISSING_BUFFER.format(
                    key=f"{name}.{buffer}", step=step, expected=expected, settings=settings
                )
                raise NetspecError(message, help=STATE_HELP)
    return step, buffers


def _step(value: object) -> int:
    """The update count of a state: an integer (or whole float) scalar >= 0."""
    array = np.asarray(value) if isinstance(value, np.ndarray | np.generic | int | float) else None
    if array is not None and array.size == 1 and array.dtype.kind in "iuf":
        number = array.reshape(()).item()
        if math.isfinite(number) and number == int(number) and number >= 0:
            return int(number)
        raise NetspecError(BAD_STEP.format(got=number), help=STATE_HELP)
    raise NetspecError(BAD_STEP.format(got=found(value)), help=STATE_HELP)
