"""Losses of the train section and per-parameter penalties, as JAX functions.

Each loss is the mean over the batch that PyTorch's functional form computes; targets are
checked on the host (NumPy) first, so a wrong target is a ShapeError naming both shapes
rather than a broadcasting accident inside a trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from netspec.errors import ShapeError
from netspec.ir import CheckedModel
from netspec.ir.train import (
    BinaryCrossEntropy,
    HalfSumSquaredError,
    LossSpec,
    MeanAbsoluteError,
    MeanSquaredError,
    SoftmaxCrossEntropy,
)

Array = jax.Array
LossFn = Callable[[Array, Array], Array]


def abs_sign_grad(x: Array) -> Array:
    """|x| whose gradient is sign(x), 0 at 0 as PyTorch's (jnp.abs gives 1 there)."""
    return x * lax.stop_gradient(jnp.sign(x))


def loss_function(spec: LossSpec) -> LossFn:
    """``loss(output, target) -> scalar`` for a batch; targets as :func:`check_targets`."""
    if isinstance(spec, SoftmaxCrossEntropy):
        return _cross_entropy(spec.class_weights)
    if isinstance(spec, BinaryCrossEntropy):
        # (1 - t) x + softplus(-x) = BCE(sigmoid(x), t), stable for either sign of x.
        return lambda y, t: jnp.mean((1.0 - t) * y + jax.nn.softplus(-y))
    if isinstance(spec, MeanSquaredError):
        return lambda y, t: jnp.mean(jnp.square(y - t))
    if isinstance(spec, HalfSumSquaredError):
        return lambda y, t: 0.5 * jnp.sum(jnp.square(y - t)) / y.shape[0]
    if isinstance(spec, MeanAbsoluteError):
        return lambda y, t: jnp.mean(abs_sign_grad(y - t))
    raise TypeError(f"unknown loss {spec!r}")


def _cross_entropy(class_weights: tuple[float, ...] | None) -> LossFn:
    def loss(y: Array, t: Array) -> Array:
        logp = jax.nn.log_softmax(y, axis=1)
        weights = None if class_weights is None else jnp.asarray(class_weights, y.dtype)
        if jnp.issubdtype(t.dtype, jnp.integer):
            picked = jnp.take_along_axis(logp, t[:, None], axis=1)[:, 0]
            if weights is None:
                return -jnp.mean(picked)
            # PyTorch's weighted mean: divide by the summed weights of the targets.
            w = weights[t]
            return -jnp.sum(w * picked) / jnp.sum(w)
        # Probability (or one-hot) targets: PyTorch divides by the batch, not by weights.
        if weights is not None:
            t = t * weights.reshape((1, -1) + (1,) * (y.ndim - 2))
        return -jnp.sum(t * logp) / (y.size // y.shape[1])

    return loss


def check_targets(
    spec: LossSpec, targets: object, output_shape: tuple[int, ...], dtype: str
) -> np.ndarray:
    """Targets as the loss expects them, or a ShapeError naming expected and received.

    ``output_shape`` is the batched output shape. Cross-entropy takes integer class
    indices of shape (N, *output_shape[2:]) or probabilities shaped like the output; every
    other loss takes numbers shaped like the output (or [N] for an output [N, 1]).
    """
    t = np.asarray(targets)
    if not (np.issubdtype(t.dtype, np.number) or t.dtype == np.bool_):
        raise ShapeError(f"targets must be numbers, got an array of dtype {t.dtype}")
    if isinstance(spec, SoftmaxCrossEntropy):
        return _check_classes(spec, t, output_shape, dtype)
    if output_shape[1:] == (1,) and t.shape == output_shape[:1]:
        # One output per sample: targets [N] stand for [N, 1].
        t = t.reshape(output_shape)
    if t.shape != output_shape:
        raise ShapeError(
            f"{spec.kind} targets must have the output's shape {output_shape}, got {t.shape}"
        )
    return t.astype(dtype, copy=False)


def _check_classes(
    spec: SoftmaxCrossEntropy, t: np.ndarray, output_shape: tuple[int, ...], dtype: str
) -> np.ndarray:
    if len(output_shape) < 2:
        raise ShapeError(
            f"softmax_cross_entropy needs a class axis: the output has shape {output_shape}"
        )
    classes = output_shape[1]
    if spec.class_weights is not None and len(spec.class_weights) != classes:
        raise ShapeError(
            f"softmax_cross_entropy has {len(spec.class_weights)} class weights "
            f"but the output has {classes} classes"
        )
    index_shape = (output_shape[0], *output_shape[2:])
    if np.issubdtype(t.dtype, np.integer):
        if t.shape != index_shape:
            raise ShapeError(
                f"class indices must have shape {index_shape}, got {t.shape} "
                f"(or pass probabilities of shape {output_shape})"
            )
        if t.size and (t.min() < 0 or t.max() >= classes):
            raise ShapeError(
                f"class indices must lie in [0, {classes}), got values from {t.min()} to {t.max()}"
            )
        return t.astype(np.int32)
    if t.shape != output_shape:
        hint = " (class indices must be integers)" if t.shape == index_shape else ""
        raise ShapeError(
            f"probability targets must have the output's shape {output_shape}, "
            f"got {t.shape}{hint}; class indices of shape {index_shape} work too"
        )
    return t.astype(dtype, copy=False)


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
