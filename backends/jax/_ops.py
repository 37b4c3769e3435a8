"""Each IR op lowered to a pure JAX function over one node's inputs, params and state.

A lowering reads the op's static data once (kernel sizes, pads, axes) and returns a
closure, so tracing a model under ``jax.jit`` sees only array arithmetic. Semantics are
those of docs/language.md section 4, which follow PyTorch: NCHW layouts, OIHW conv
weights, [out, in] dense weights, maxpool padding with -inf, avgpool counting padded
cells, batchnorm with PyTorch's running-statistics rule, inverted dropout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import reduce
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from jax import lax

from netspec._contract import unsupported_op
from netspec.ir import CheckedNode, explicit_pads
from netspec.ir import ops as ir

Array = jax.Array
# One node's params or state, keyed by attribute ("weight", "bias", "running_mean", ...).
NodeArrays = Mapping[str, Array]

# Full precision for dots and convolutions: on GPUs JAX's default may use TF32 for
# float32, and the language promises all arithmetic in the model's dtype. CPUs ignore it.
HIGHEST = lax.Precision.HIGHEST


class NodeFn(Protocol):
    """A lowered node: its output and its updated state (only the entries that change)."""

    def __call__(
        self,
        inputs: Sequence[Array],
        params: NodeArrays,
        state: NodeArrays,
        *,
        train: bool,
        key: Array | None,
    ) -> tuple[Array, dict[str, Array]]: ...


def lower(node: CheckedNode) -> NodeFn:
    """The JAX function computing ``node`` (batched: inputs carry a leading batch axis)."""
    op = node.op
    if isinstance(op, ir.BatchNorm):
        return _batchnorm(op)
    if isinstance(op, ir.Dropout):
        return _dropout(op)
    if isinstance(op, ir.Standardize):
        return _standardize
    lowering = _STATELESS.get(op.kind)
    if lowering is None:
        raise unsupported_op("jax backend", op.kind)
    return _without_state(lowering(op, node))


def uses_randomness(node: CheckedNode) -> bool:
    """Whether the node needs a random key in training mode."""
    return isinstance(node.op, ir.Dropout) and node.op.p > 0.0


# A stateless lowering: (op, node) -> f(inputs, params) -> output.
Stateless = Callable[[Sequence[Array], NodeArrays], Array]


def _without_state(fn: Stateless) -> NodeFn:
    def run(
        inputs: Sequence[Array],
        params: NodeArrays,
        state: NodeArrays,
        *,
        train: bool,
        key: Array | None,
    ) -> tuple[Array, dict[str, Array]]:
        return fn(inputs, params), {}

    return run


def _dense(op: ir.Dense, node: CheckedNode) -> Stateless:
    def run(inputs: Sequence[Array], params: NodeArrays) -> Array:
        y = jnp.matmul(inputs[0], params["weight"].T, precision=HIGHEST)
        return y + params["bias"] if op.bias else y

    return run


def _conv2d(op: ir.Conv2d, node: CheckedNode) -> Stateless:
    pads = explicit_pads(op.padding)

    def run(inputs: Sequence[Array], params: NodeArrays) -> Array:
        y = lax.conv_general_dilated(
            inputs[0],
            params["weight"],
            window_strides=op.stride,
            padding=pads,
            rhs_dilation=op.dilation,
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
            feature_group_count=op.groups,
            precision=HIGHEST,
        )
        return y + params["bias"][None, :, None, None] if op.bias else y

    return run


def _window(op: ir.MaxPool | ir.AvgPool) -> tuple[tuple[int, ...], tuple[int, ...], list]:
    (top, bottom), (left, right) = explicit_pads(op.padding)
    dims = (1, 1, *op.kernel)
    strides = (1, 1, *op.stride)
    pads = [(0, 0), (0, 0), (top, bottom), (left, right)]
    return dims, strides, pads


def _maxpool(op: ir.MaxPool, node: CheckedNode) -> Stateless:
    dims, strides, pads = _window(op)

    def run(inputs: Sequence[Array], params: NodeArrays) -> Array:
        # -inf padding: a padded cell never wins, as in PyTorch.
        return lax.reduce_window(inputs[0], -jnp.inf, lax.max, dims, strides, pads)

    return run


def _avgpool(op: ir.AvgPool, node: CheckedNode) -> Stateless:
    dims, strides, pads = _window(op)
    cells = math.prod(op.kernel)

    def run(inputs: Sequence[Array], params: NodeArrays) -> Array:
        # Zero padding summed and divided by the full window: count_include_pad=True.
        return lax.reduce_window(inputs[0], 0.0, lax.add, dims, strides, pads) / cells

    return run


def _global_avgpool(op: ir.GlobalAvgPool, node: CheckedNode) -> Stateless:
    shape = node.output.shape

    def run(inputs: Sequence[Array], params: NodeArrays) -> Array:
        x = inputs[0]
        return jnp.mean(x, axis=tuple(range(2, x.ndim))).reshape((x.shape[0], *shape))

    return run


def _reshape(op: ir.Flatten | ir.Reshape, node: CheckedNode) -> Stateless:
    # The checked output shape already resolves any -1 of a reshape.
    shape = node.output.shape

    def run(inputs: Sequence[Array], params: NodeArrays) -> Array:
        return inputs[0].reshape((inputs[0].shape[0], *shape))

    return run


def _add(op: ir.Add, node: CheckedNode) -> Stateless:
    return lambda inputs, params: reduce(jnp.add, inputs)


def _multiply(op: ir.Multiply, node: CheckedNode) -> Stateless:
    return lambda inputs, params: reduce(jnp.multiply, inputs)


def _batched_axis(axis: int) -> int:
    # IR axes are per sample; a non-negative one moves past the batch axis.
    return axis + 1 if axis >= 0 else axis


def _concat(op: ir.Concat, node: CheckedNode) -> Stateless:
    axis = _batched_axis(op.axis)
    return lambda inputs, params: jnp.concatenate(list(inputs), axis=axis)


def _prelu(op: ir.Prelu, node: CheckedNode) -> Stateless:
    def run(inputs: Sequence[Array], params: NodeArrays) -> Array:
        x, slope = inputs[0], params["weight"]
        if op.per_channel:
            # One slope per channel (axis 1 of the batch), broadcast over the rest.
            slope = slope.reshape((slope.shape[0],) + (1,) * (x.ndim - 2))
        return jnp.where(x > 0, x, slope * x)

    return run


def _softplus(op: ir.Softplus) -> Callable[[Array], Array]:
    beta, threshold = op.beta, op.threshold

    def run(x: Array) -> Array:
        # PyTorch: linear above the threshold; the exp only sees the other side, so
        # neither branch can overflow and produce a NaN gradient through jnp.where.
        scaled = x * beta
        above = scaled > threshold
        safe = jnp.where(above, 0.0, scaled)
        return jnp.where(above, x, jnp.log1p(jnp.exp(safe)) / beta)

    return run


def _gelu(op: ir.Gelu) -> Callable[[Array], Array]:
    if op.approximate == "tanh":
        return lambda x: jax.nn.gelu(x, approximate=True)
    # The erf form, as PyTorch writes it.
    return lambda x: 0.5 * x * (1.0 + lax.erf(x * math.sqrt(0.5)))


def _step(x: Array) -> Array:
    # A comparison has no derivative path, so the gradient is zero everywhere.
    return (x > 0).astype(x.dtype)


def _leaky_relu(op: ir.LeakyRelu) -> Callable[[Array], Array]:
    slope = op.negative_slope
    # x > 0 strictly: at 0 the gradient is the slope, as PyTorch's.
    return lambda x: jnp.where(x > 0, x, x * slope)


def _elu(op: ir.Elu) -> Callable[[Array], Array]:
    # jax.nn.elu keeps exp away from large x and has PyTorch's gradient (alpha) at 0.
    return lambda x: jax.nn.elu(x, alpha=op.alpha)


def _softmax(op: ir.Softmax) -> Callable[[Array], Array]:
    axis = _batched_axis(op.axis)
    return lambda x: jax.nn.softmax(x, axis=axis)


def _log_softmax(op: ir.LogSoftmax) -> Callable[[Array], Array]:
    axis = _batched_axis(op.axis)
    return lambda x: jax.nn.log_softmax(x, axis=axis)


def _fixed(fn: Callable[[Array], Array]) -> Callable[[object], Callable[[Array], Array]]:
    return lambda op: fn


# Elementwise and axis activations: op -> f(x). jax.nn.relu defines its gradient at 0 as
# PyTorch does (0); jnp.maximum(x, 0) would give 0.5 there.
_UNARY: dict[str, Callable[[Any], Callable[[Array], Array]]] = {
    "identity": _fixed(lambda x: x),
    "step": _fixed(_step),
    "sigmoid": _fixed(jax.nn.sigmoid),
    "tanh": _fixed(jnp.tanh),
    "relu": _fixed(jax.nn.relu),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "softplus": _softplus,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
}


def _unary(op: ir.Op, node: CheckedNode) -> Stateless:
    fn = _UNARY[op.kind](op)
    return lambda inputs, params: fn(inputs[0])


_STATELESS: dict[str, Callable[..., Stateless]] = {
    "dense": _dense,
    "conv2d": _conv2d,
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": _global_avgpool,
    "flatten": _reshape,
    "reshape": _reshape,
    "add": _add,
    "multiply": _multiply,
    "concat": _concat,
    "prelu": _prelu,
    **{kind: _unary for kind in _UNARY},
}


def _standardize(
    inputs: Sequence[Array],
    params: NodeArrays,
    state: NodeArrays,
    *,
    train: bool,
    key: Array | None,
) -> tuple[Array, dict[str, Array]]:
    """(x - mean) / std per element; the statistics are fixed state: never updated, and
    no gradient reaches them (as in a generated JAX module)."""
    mean, std = lax.stop_gradient(state["mean"]), lax.stop_gradient(state["std"])
    return (inputs[0] - mean) / std, {}


def _batchnorm(op: ir.BatchNorm) -> NodeFn:
    momentum, eps = op.momentum, op.eps

    def run(
        inputs: Sequence[Array],
        params: NodeArrays,
        state: NodeArrays,
        *,
        train: bool,
        key: Array | None,
    ) -> tuple[Array, dict[str, Array]]:
        x = inputs[0]
        # Channel (or feature) axis 1; statistics over the batch and every other axis.
        axes = (0, *range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        updates: dict[str, Array] = {}
        if train:
            mean = jnp.mean(x, axis=axes)
            centred = x - mean.reshape(shape)
            var = jnp.mean(centred * centred, axis=axes)  # biased: used to normalise
            count = x.size // x.shape[1]
            if count < 2:
                # PyTorch refuses this too: the unbiased variance divides by count - 1.
                raise ValueError(
                    "batchnorm in training mode needs more than one value per channel, "
                    f"got a batch of shape {tuple(x.shape)}"
                )
            unbiased = lax.stop_gradient(var) * (count / (count - 1))
            updates = {
                "running_mean": (1 - momentum) * state["running_mean"]
                + momentum * lax.stop_gradient(mean),
                "running_var": (1 - momentum) * state["running_var"] + momentum * unbiased,
            }
        else:
            mean, var = state["running_mean"], state["running_var"]
            centred = x - mean.reshape(shape)
        y = centred * lax.rsqrt(var + eps).reshape(shape)
        if op.affine:
            y = y * params["weight"].reshape(shape) + params["bias"].reshape(shape)
        return y, updates

    return run


def _dropout(op: ir.Dropout) -> NodeFn:
    p = op.p

    def run(
        inputs: Sequence[Array],
        params: NodeArrays,
        state: NodeArrays,
        *,
        train: bool,
        key: Array | None,
    ) -> tuple[Array, dict[str, Array]]:
        x = inputs[0]
        if not train or p == 0.0:
            return x, {}
        if p >= 1.0:
            return jnp.zeros_like(x), {}
        if key is None:
            raise ValueError("dropout in training mode needs a random key (rng=...)")
        # Uniforms drawn in float32 whatever the model's dtype, so that float32 and
        # float64 models with the same seed drop the same units.
        keep = jax.random.uniform(key, x.shape, dtype=jnp.float32) >= p
        return x * (keep.astype(x.dtype) / (1.0 - p)), {}

    return run
