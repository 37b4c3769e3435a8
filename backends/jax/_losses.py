"""Losses of the train section and per-parameter penalties, as JAX functions.

Each loss is the mean over the batch that PyTorch's functional form computes; targets are
checked on the host by :func:`netspec._contract.check_targets` first, so a wrong target is
a ShapeError naming both shapes rather than a broadcasting accident inside a trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from netspec.ir import CheckedModel
from netspec.ir.train import LossSpec

Array = jax.Array
LossFn = Callable[[Array, Array], Array]


def abs_sign_grad(x: Array) -> Array:
    """|x| whose gradient is sign(x), 0 at 0 as PyTorch's (jnp.abs gives 1 there)."""
    return x * lax.stop_gradient(jnp.sign(x))


def _cross_entropy(y: Array, t: Array, spec: Any) -> Array:
    # Classes on the last axis: an output [N, T, V] is N * T rows of V classes, as
    # torch's cross_entropy on [N * T, V].
    classes = y.shape[-1]
    if y.ndim > 2:
        integer = jnp.issubdtype(t.dtype, jnp.integer)
        t = t.reshape(-1) if integer else t.reshape(-1, classes)
        y = y.reshape(-1, classes)
    logp = jax.nn.log_softmax(y, axis=1)
    weights = None if spec.class_weights is None else jnp.asarray(spec.class_weights, y.dtype)
    if jnp.issubdtype(t.dtype, jnp.integer):
        picked = jnp.take_along_axis(logp, t[:, None], axis=1)[:, 0]
        if weights is None:
            return -jnp.mean(picked)
        # PyTorch's weighted mean: divide by the summed weights of the targets.
        w = weights[t]
        return -jnp.sum(w * picked) / jnp.sum(w)
    # Probability (or one-hot) targets: PyTorch divides by the batch, not by weights.
    if weights is not None:
        t = t * weights.reshape((1, -1))
    return -jnp.sum(t * logp) / y.shape[0]


# (output, targets, the loss spec) -> the mean loss of the batch, by loss kind.
LOSSES: dict[str, Callable[[Array, Array, Any], Array]] = {
    "softmax_cross_entropy": _cross_entropy,
    # (1 - t) x + softplus(-x) = BCE(sigmoid(x), t), stable for either sign of x.
    "binary_cross_entropy": lambda y, t, _: jnp.mean((1.0 - t) * y + jax.nn.softplus(-y)),
    "mse": lambda y, t, _: jnp.mean(jnp.square(y - t)),
    "half_sse": lambda y, t, _: 0.5 * jnp.sum(jnp.square(y - t)) / y.shape[0],
    "l1": lambda y, t, _: jnp.mean(abs_sign_grad(y - t)),
}


def loss_function(spec: LossSpec) -> LossFn:
    """``loss(output, target) -> scalar`` for a batch; targets as :func:`check_targets`."""
    loss = LOSSES[spec.kind]
    return lambda y, t: loss(y, t, spec)


def check_targets(
    spec: LossSpec, targets: object, output_shape: tuple[int, ...], dtype: str
) -> np.ndarray:
    """Targets as the jitted losses take them, from targets that passed
    :func:`netspec._contract.check_targets` (which refuses bad ones with one message on
    every backend): class indices as int32, JAX's default integer; the rest as they are."""
    t = np.asarray(targets)
    return t.astype(np.int32) if t.dtype.kind in "iu" else t.astype(dtype, copy=False)


def penalty_function(model: CheckedModel) -> Callable[[Mapping[str, Array]], Array] | None:
    """The declared penalties, 0.5 l2 sum(W^2) + l1 sum(|W|), or None if there are none.

    max_norm is not a loss term: the trainer projects the weights after each update.
    """
    terms = [
        (spec.name, spec.regularize.l2, spec.regularize.l1)
        for spec in model.params
        if spec.regularize.l2 != 0.0 or spec.regularize.l1 != 0.0
    ]
    if not terms:
        return None

    def penalty(params: Mapping[str, Array]) -> Array:
        total = jnp.zeros((), dtype=next(iter(params.values())).dtype)
        for name, l2, l1 in terms:
            w = params[name]
            if l2:
                total = total + 0.5 * l2 * jnp.sum(jnp.square(w))
            if l1:
                total = total + l1 * jnp.sum(abs_sign_grad(w))
        return total

    return penalty
