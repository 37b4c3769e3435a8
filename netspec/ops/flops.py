"""Forward FLOPs per sample of each op, from the resolved op and its shapes.

Each rule takes the checked op (as the shape rule resolved it), the input shapes and the
output shape. A multiply-add counts two; comparisons and copies count nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from netspec.ir import ops

Shape = tuple[int, ...]
FlopRule = Callable[[Any, list[Shape], Shape], int]


def none(op: Any, shapes: list[Shape], out: Shape) -> int:
    """Ops that only move values (identity, dropout at inference, flatten, concat)."""
    return 0


def per_output(count: int) -> FlopRule:
    """``count`` FLOPs for every output value."""

    def rule(op: Any, shapes: list[Shape], out: Shape) -> int:
        return count * math.prod(out)

    return rule


def dense(op: ops.CheckedDense, shapes: list[Shape], out: Shape) -> int:
    """Per row (one for a vector, T for a [T, F] sequence): a multiply-add per weight and
    the bias."""
    rows = math.prod(shapes[0][:-1])
    return rows * (2 * shapes[0][-1] * op.units + (op.units if op.bias else 0))


def _cells(kernel: int | tuple[int, ...]) -> int:
    """The cells of a window: a 1-D kernel is an int, a 2-D one a pair."""
    return kernel if isinstance(kernel, int) else math.prod(kernel)


def conv(op: ops.CheckedConv2d | ops.CheckedConv1d, shapes: list[Shape], out: Shape) -> int:
    """conv2d and conv1d: a multiply-add per window cell and input channel of the group."""
    channels = shapes[0][0]
    per_value = 2 * (channels // op.groups) * _cells(op.kernel) + (1 if op.bias else 0)
    return per_value * math.prod(out)


def conv2d_transpose(op: ops.CheckedConv2dTranspose, shapes: list[Shape], out: Shape) -> int:
    """Each input value meets filters / groups * kh * kw weights; a bias per output."""
    per_input = 2 * (op.filters // op.groups) * op.kernel[0] * op.kernel[1]
    return per_input * math.prod(shapes[0]) + (math.prod(out) if op.bias else 0)


def pool(op: Any, shapes: list[Shape], out: Shape) -> int:
    """One FLOP per window cell per output value (max or sum)."""
    return math.prod(out) * _cells(op.kernel)


def global_avgpool(op: ops.GlobalAvgPool, shapes: list[Shape], out: Shape) -> int:
    return math.prod(shapes[0])


def elementwise(op: Any, shapes: list[Shape], out: Shape) -> int:
    """add and multiply: one FLOP per value for each input after the first."""
    return math.prod(out) * (len(shapes) - 1)


def normalization(op: Any, shapes: list[Shape], out: Shape) -> int:
    """layer_norm and group_norm: per value, the mean's sum, the centring, the square and
    its sum, and the scaling by 1 / std (5), then the scale and shift (2) with ``affine``."""
    return (7 if op.affine else 5) * math.prod(out)
