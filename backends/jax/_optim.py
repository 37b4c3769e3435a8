"""The optimizers of docs/training.md as pure per-parameter JAX updates.

Each optimizer names its buffers as PyTorch's ``optimizer.state`` does (``exp_avg``,
``momentum_buffer``, ...), so ``optimizer_state()`` keys read ``<param>.<buffer>``. An
update maps (param, gradient, buffers, lr, t) to the new param and buffers, where ``lr``
and the step number ``t`` (1, 2, ...) are traced scalars of the model's dtype: one
compiled step serves every step and every learning rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from netspec.ir.train import OptimizerSpec
from netspec.optimizers import buffer_fill, buffer_names

Array = jax.Array
Buffers = dict[str, Array]
Update = Callable[[Array, Array, Buffers, Array, Array], tuple[Array, Buffers]]


@dataclass(frozen=True)
class Optimizer:
    """An optimizer's settings and update rule; its buffers are netspec.optimizers'."""

    spec: OptimizerSpec
    update: Update

    @property
    def buffers(self) -> tuple[str, ...]:
        """The buffer names per parameter (PyTorch's)."""
        return buffer_names(self.spec)

    def init(self, param: Array) -> Buffers:
        """Fresh buffers for one parameter, at their starting fill."""
        return {name: jnp.full_like(param, buffer_fill(self.spec)) for name in self.buffers}


def _sgd(spec: Any) -> Update:
    mu, tau, nesterov = spec.momentum, spec.dampening, spec.nesterov

    def update(p: Array, g: Array, s: Buffers, lr: Array, t: Array) -> tuple[Array, Buffers]:
        if mu == 0.0:
            return p - lr * g, {}
        # The first step copies the gradient into the buffer, undamped (PyTorch).
        b = jnp.where(t == 1, g, mu * s["momentum_buffer"] + (1.0 - tau) * g)
        step = g + mu * b if nesterov else b
        return p - lr * step, {"momentum_buffer": b}

    return update


def _adagrad(spec: Any) -> Update:
    def update(p: Array, g: Array, s: Buffers, lr: Array, t: Array) -> tuple[Array, Buffers]:
        lr_t = lr / (1.0 + (t - 1) * spec.lr_decay)
        total = s["sum"] + g * g
        return p - lr_t * g / (jnp.sqrt(total) + spec.eps), {"sum": total}

    return update


def _rmsprop(spec: Any) -> Update:
    alpha, mu, centered = spec.alpha, spec.momentum, spec.centered

    def update(p: Array, g: Array, s: Buffers, lr: Array, t: Array) -> tuple[Array, Buffers]:
        new: Buffers = {"square_avg": alpha * s["square_avg"] + (1.0 - alpha) * g * g}
        v = new["square_avg"]
        if centered:
            new["grad_avg"] = alpha * s["grad_avg"] + (1.0 - alpha) * g
            v = v - new["grad_avg"] * new["grad_avg"]
        scaled = g / (jnp.sqrt(v) + spec.eps)
        if mu > 0:
            new["momentum_buffer"] = mu * s["momentum_buffer"] + scaled
            return p - lr * new["momentum_buffer"], new
        return p - lr * scaled, new

    return update


def _adam(spec: Any, decay: float = 0.0) -> Update:
    beta1, beta2, eps, amsgrad = spec.beta1, spec.beta2, spec.eps, spec.amsgrad

    def update(p: Array, g: Array, s: Buffers, lr: Array, t: Array) -> tuple[Array, Buffers]:
        if decay:
            # AdamW: decoupled decay of the parameter itself, before the Adam step.
            p = p * (1.0 - lr * decay)
        m = beta1 * s["exp_avg"] + (1.0 - beta1) * g
        v = beta2 * s["exp_avg_sq"] + (1.0 - beta2) * g * g
        new: Buffers = {"exp_avg": m, "exp_avg_sq": v}
        if amsgrad:
            v = new["max_exp_avg_sq"] = jnp.maximum(s["max_exp_avg_sq"], v)
        # PyTorch's arrangement of the bias corrections, operation for operation.
        step_size = lr / (1.0 - beta1**t)
        denom = jnp.sqrt(v) / jnp.sqrt(1.0 - beta2**t) + eps
        return p - step_size * m / denom, new

    return update


# Each kind's update, made from the spec's settings.
OPTIMIZERS: dict[str, Callable[[Any], Update]] = {
    "sgd": _sgd,
    "adagrad": _adagrad,
    "rmsprop": _rmsprop,
    "adam": _adam,
    "adamw": lambda spec: _adam(spec, spec.weight_decay),
}


def optimizer(spec: OptimizerSpec) -> Optimizer:
    """The optimizer for an optimizer spec of the train section."""
    return Optimizer(spec, OPTIMIZERS[spec.kind](spec))
