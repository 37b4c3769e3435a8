"""The jitted programs of one checked model, shared by every JaxModel of that model.

The programs depend only on the IR (never on weights, seed, dtype or device), so two
compiled models of the same spec share them, and with them JAX's compilation cache:
compiling a model twice, in float32 and float64, or once per seed, traces each program
once per input shape and precision. A small LRU bound keeps a long session from holding
every model it ever compiled.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
from jax.sharding import Sharding

from netspec._contract import gradient_inputs
from netspec.backends.jax._graph import Lowered, lower_model
from netspec.backends.jax._losses import loss_function, penalty_function
from netspec.backends.jax._train import FusedPrograms, make_fused_step
from netspec.ir import CheckedModel
from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec

Array = jax.Array


class Programs:
    """Lowered nodes and, made on first use, the jitted forward, gradient and train steps."""

    def __init__(self, model: CheckedModel) -> None:
        self.model = model
        self.lowered: Lowered = lower_model(model)
        self._forwards: dict[tuple[bool, bool, Sharding | None], Callable[..., Any]] = {}
        self._steps: dict[tuple[LossSpec, bool, bool, Sharding | None], Callable[..., Any]] = {}
        self._fused: dict[tuple[Any, ...], FusedPrograms] = {}

    def forward(self, train: bool, keep: bool, out: Sharding | None = None) -> Callable[..., Any]:
        """``(params, state, x, key, call) -> (outputs, new_state)``, jitted; ``out`` is
        the sharding of every result (a data-parallel model's replicated one), or None."""
        fn = self._forwards.get((train, keep, out))
        if fn is None:
            lowered = self.lowered

            def forward(params: Any, state: Any, x: Array, key: Array, call: Array) -> Any:
                rng = jax.random.fold_in(key, call) if train and lowered.random else None
                return lowered.run(params, state, x, train=train, rng=rng, keep=keep)

            fn = self._forwards[(train, keep, out)] = jax.jit(forward, **_out(out))
        return fn

    def step(
        self, loss: LossSpec, train: bool, input_grad: bool, out: Sharding | None = None
    ) -> Callable[..., Any]:
        """``(params, state, x, y, key, call) -> (loss, (grads, input grad), new_state)``;
        ``out`` as for :meth:`forward`."""
        fn = self._steps.get((loss, train, input_grad, out))
        if fn is None:
            penalty = penalty_function(self.model)
            fn = self._steps[(loss, train, input_grad, out)] = jax.jit(
                _make_step(self.model, self.lowered, loss, penalty, train, input_grad),
                **_out(out),
            )
        return fn

    def fused(
        self,
        loss: LossSpec,
        optimizer: OptimizerSpec,
        clip: ClipSpec | None,
        donate: bool,
        out: Sharding | None = None,
        precision: str = "fp32",
    ) -> FusedPrograms:
        """The fused train step of docs/training.md (one step and k steps per call) and
        its optimizer rule; ``out`` as for :meth:`forward`; ``precision`` as for
        ``train_step``."""
        key = (loss, optimizer, clip, donate, out, precision)
        if key not in self._fused:
            self._fused[key] = make_fused_step(
                self.model,
                self.lowered,
                loss,
                optimizer,
                clip,
                donate=donate,
                out=out,
                precision=precision,
            )
        return self._fused[key]


def _out(out: Sharding | None) -> dict[str, Any]:
    # jit's keyword for where results live: left to JAX on one device.
    return {} if out is None else {"out_shardings": out}


@functools.lru_cache(maxsize=16)
def programs_for(model: CheckedModel) -> Programs:
    """The shared programs of ``model`` (checked IRs are frozen, so hashable by value)."""
    return Programs(model)


def _make_step(
    model: CheckedModel,
    lowered: Lowered,
    loss: LossSpec,
    penalty: Callable[[Mapping[str, Array]], Array] | None,
    train: bool,
    input_grad: bool,
) -> Callable[..., Any]:
    data_loss = loss_function(loss)

    def total(params: Any, x: Array, state: Any, y: Array, rng: Array | None) -> Any:
        outputs, new_state = lowered.run(params, state, x, train=train, rng=rng)
        value = data_loss(outputs[lowered.output], y)
        if penalty is not None:
            value = value + penalty(params)
        return value, new_state

    # Integer inputs hold indices, which have no gradient: they ride along undifferentiated.
    floats = gradient_inputs(model)

    def split(params: Any, x_float: Any, state: Any, y: Array, rng: Any, x_int: Any) -> Any:
        return total(params, {**x_float, **x_int}, state, y, rng)

    argnums = (0, 1) if input_grad else 0
    value_and_grad = jax.value_and_grad(split, argnums=argnums, has_aux=True)

    def step(params: Any, state: Any, x: Array, y: Array, key: Array, call: Array) -> Any:
        rng = jax.random.fold_in(key, call) if train and lowered.random else None
        x_float = {name: x[name] for name in x if name in floats}
        x_int = {name: x[name] for name in x if name not in floats}
        (value, new_state), grads = value_and_grad(params, x_float, state, y, rng, x_int)
        # Always (param grads, input grad or None): one shape for the caller to unpack.
        return value, (grads if input_grad else (grads, None)), new_state

    return step
