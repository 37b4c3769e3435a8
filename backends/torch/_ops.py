"""Lowering of IR nodes to torch: a layer module for nodes with parameters or state, a
plain function for the rest.

The functions are module-level callables or ``functools.partial`` objects over them
with plain Python arguments, so that a built module pickles and ``torch.compile``
traces straight through them. Per-sample axes of the IR (0 = channels or features)
become batched axes by adding one; negative axes count from the end either way.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from netspec._contract import unsupported_op
from netspec.backends.torch import _layers
from netspec.ir import CheckedNode, explicit_pads
from netspec.ir.ops import (
    AvgPool,
    BatchNorm,
    Concat,
    Conv2d,
    Dense,
    Elu,
    Gelu,
    LeakyRelu,
    LogSoftmax,
    MaxPool,
    Prelu,
    Softmax,
    Softplus,
    Standardize,
)

TensorFn = Callable[..., torch.Tensor]


def build_layer(
    node: CheckedNode, shapes: dict[str, tuple[int, ...]], dtype: torch.dtype
) -> nn.Module | None:
    """The layer module of a node with parameters or state, or None for other nodes.

    ``shapes`` maps this node's attributes (``weight``, ``bias``, ``running_mean``...)
    to their shapes from the IR's ParamSpec / StateSpec.
    """
    op = node.op
    if isinstance(op, Dense):
        out_features, in_features = shapes["weight"]
        return _layers.Dense(in_features, out_features, "bias" in shapes, dtype)
    if isinstance(op, Conv2d):
        weight = shapes["weight"]
        if len(weight) != 4:
            raise ValueError(f"conv2d {node.name!r} has a weight of shape {weight}")
        return _layers.Conv2d(
            (weight[0], weight[1], weight[2], weight[3]),
            "bias" in shapes,
            op.stride,
            explicit_pads(op.padding),
            op.dilation,
            op.groups,
            dtype,
        )
    if isinstance(op, BatchNorm):
        (features,) = shapes["running_mean"]
        return _layers.BatchNorm(features, op.momentum, op.eps, "weight" in shapes, dtype)
    if isinstance(op, Standardize):
        return _layers.Standardize(shapes["mean"], dtype)
    if isinstance(op, Prelu):
        (slopes,) = shapes["weight"]
        return _layers.PRelu(slopes, dtype)
    return None


def build_function(node: CheckedNode) -> TensorFn:
    """The function computing a parameter-free node from its input tensors."""
    op = node.op
    kind = op.kind
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if isinstance(op, MaxPool):
        return _pool_function(_max_pool, op.kernel, op.stride, explicit_pads(op.padding))
    if isinstance(op, AvgPool):
        return _pool_function(_avg_pool, op.kernel, op.stride, explicit_pads(op.padding))
    if kind == "global_avgpool":
        return functools.partial(_global_avgpool, keepdim=len(node.output.shape) > 1)
    if kind in ("flatten", "reshape"):
        return functools.partial(_reshape, shape=tuple(node.output.shape))
    if kind in ("add", "multiply"):
        binary = operator.add if kind == "add" else operator.mul
        if len(node.inputs) == 2:
            return binary
        return functools.partial(_fold, binary)
    if isinstance(op, Concat):
        return functools.partial(_concat, dim=_batched_axis(op.axis))
    if isinstance(op, LeakyRelu):
        return functools.partial(F.leaky_relu, negative_slope=op.negative_slope)
    if isinstance(op, Elu):
        return functools.partial(F.elu, alpha=op.alpha)
    if isinstance(op, Gelu):
        return functools.partial(F.gelu, approximate=op.approximate)
    if isinstance(op, Softplus):
        return functools.partial(F.softplus, beta=op.beta, threshold=op.threshold)
    if isinstance(op, Softmax):
        return functools.partial(F.softmax, dim=_batched_axis(op.axis))
    if isinstance(op, LogSoftmax):
        return functools.partial(F.log_softmax, dim=_batched_axis(op.axis))
    raise unsupported_op("torch backend", kind)


def _batched_axis(axis: int) -> int:
    return axis + 1 if axis >= 0 else axis


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _step(x: torch.Tensor) -> torch.Tensor:
    # A comparison has no gradient path, so the step's gradient is zero everywhere.
    return (x > 0).to(x.dtype)


_SIMPLE: dict[str, TensorFn] = {
    "identity": _identity,
    "step": _step,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
}


def _fold(
    binary: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *xs: torch.Tensor
) -> torch.Tensor:
    return functools.reduce(binary, xs)


def _concat(*xs: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.cat(xs, dim=dim)


def _reshape(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return x.reshape((x.shape[0], *shape))


def _global_avgpool(x: torch.Tensor, keepdim: bool) -> torch.Tensor:
    return x.mean(dim=(2, 3), keepdim=keepdim)


def _pool_function(
    pool: TensorFn,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    pads: tuple[tuple[int, int], tuple[int, int]],
) -> TensorFn:
    (top, bottom), (left, right) = pads
    # torch pools pad both sides equally, and at most half the kernel; anything else is
    # padded beforehand with F.pad.
    if top == bottom and left == right and top <= kernel[0] // 2 and left <= kernel[1] // 2:
        return functools.partial(pool, kernel=kernel, stride=stride, padding=(top, left))
    return functools.partial(
        pool, kernel=kernel, stride=stride, padding=(0, 0), pre_pad=(left, right, top, bottom)
    )


def _max_pool(
    x: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    pre_pad: tuple[int, int, int, int] | None = None,
) -> torch.Tensor:
    if pre_pad is not None:
        x = F.pad(x, pre_pad, value=-math.inf)
    return F.max_pool2d(x, kernel, stride, padding)


def _avg_pool(
    x: torch.Tensor,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    pre_pad: tuple[int, int, int, int] | None = None,
) -> torch.Tensor:
    # Padded cells count in the divisor, whichever way the padding is applied.
    if pre_pad is not None:
        x = F.pad(x, pre_pad)
    return F.avg_pool2d(x, kernel, stride, padding, count_include_pad=True)
