"""The rules of the shape and resampling ops: ``permute``, ``transpose``, ``slice``,
``adaptive_avgpool`` and ``upsample``.

Shape rules (as :mod:`netspec.ops.shapes`), FLOP rules (as :mod:`netspec.ops.flops`),
summary texts (as :mod:`netspec.ops.text`) and the cross-argument check of ``upsample``,
kept together so that these ops' facts read in one place. Axes count per sample, as
everywhere in the IR: the checker resolves a negative axis, and a slice's negative or
out-of-range indices, to the non-negative values of the checked op.
"""

from __future__ import annotations

import math
from typing import Any

from netspec.elaborate import convert as c
from netspec.ir import ops
from netspec.ir.graph import Span
from netspec.ir.ops import to_checked
from netspec.ops.shapes import Shape, Shaped, ShapeProblem, _axis, _image, fmt
from netspec.ops.signature import Given

# -- shape rules -----------------------------------------------------------------------------


def permute(op: ops.Permute, shapes: list[Shape]) -> Shaped:
    """Every per-sample axis named once; output axis i is input axis ``axes[i]``."""
    (shape,) = shapes
    rank = len(shape)
    written = ", ".join(str(a) for a in op.axes)
    if len(op.axes) != rank:
        raise ShapeProblem(
            "E004",
            f"permute({written}) names {len(op.axes)} "
            f"{'axis' if len(op.axes) == 1 else 'axes'}; the input {fmt(shape)} has {rank}",
            notes=["axes count per sample: the batch axis is not counted and never moves"],
            help=[f"name each of the {rank} per-sample axes once"],
        )
    axes = tuple(_axis("permute", a, rank) for a in op.axes)
    if sorted(axes) != list(range(rank)):
        repeated = sorted({a for a in axes if axes.count(a) > 1})
        raise ShapeProblem(
            "E004",
            f"permute({written}) names axis {repeated[0]} twice; each axis must appear once",
            help=[f"name each of the {rank} per-sample axes once"],
        )
    return Shaped(tuple(shape[a] for a in axes), to_checked(op, axes=axes))


def transpose(op: ops.Transpose, shapes: list[Shape]) -> Shaped:
    """The two axes swap places; every other axis stays."""
    (shape,) = shapes
    first = _axis("transpose", op.axis0, len(shape))
    second = _axis("transpose", op.axis1, len(shape))
    out = list(shape)
    out[first], out[second] = shape[second], shape[first]
    return Shaped(tuple(out), to_checked(op, axis0=first, axis1=second))


def slice_axis(op: ops.Slice, shapes: list[Shape]) -> Shaped:
    """Python's slice of one axis: indices from the end resolved, past either end clamped;
    an empty result is refused."""
    (shape,) = shapes
    axis = _axis("slice", op.axis, len(shape))
    size = shape[axis]
    start, stop, step = slice(op.start, op.stop, op.step).indices(size)
    count = len(range(start, stop, step))
    if count == 0:
        stop_text = "end" if op.stop is None else str(op.stop)
        raise ShapeProblem(
            "E010",
            f"slice of axis {axis} (size {size}) from {op.start} to {stop_text} "
            f"with step {op.step} is empty",
            notes=[f"start resolves to {start} and stop to {stop}: no index lies between"],
            help=["a negative index counts from the end: slice(0, -1) takes the last one"],
        )
    out = list(shape)
    out[axis] = count
    return Shaped(tuple(out), to_checked(op, axis=axis, start=start, stop=stop))


def adaptive_avgpool(op: ops.AdaptiveAvgPool, shapes: list[Shape]) -> Shaped:
    channels, _, _ = _image("adaptive_avgpool", shapes[0])
    return Shaped((channels, *op.size), op)


def upsample(op: ops.Upsample, shapes: list[Shape]) -> Shaped:
    channels, height, width = _image("upsample", shapes[0])
    return Shaped((channels, height * op.scale[0], width * op.scale[1]), op)


# -- FLOPs -----------------------------------------------------------------------------------


def _window_total(size: int, out: int) -> int:
    """The summed lengths of PyTorch's adaptive windows along one axis."""
    return sum(-(-(i + 1) * size // out) - (i * size // out) for i in range(out))


def adaptive_avgpool_flops(op: ops.AdaptiveAvgPool, shapes: list[Shape], out: Shape) -> int:
    """One add per window cell, one divide per output value."""
    channels, height, width = shapes[0]
    cells = _window_total(height, op.size[0]) * _window_total(width, op.size[1])
    return channels * cells + math.prod(out)


def upsample_flops(op: ops.Upsample, shapes: list[Shape], out: Shape) -> int:
    """Nearest copies; bilinear weighs four source values (four multiplies, three adds)."""
    return 0 if op.mode == "nearest" else 7 * math.prod(out)


# -- summary texts and checks across arguments -------------------------------------------------


def permute_text(op: Any) -> tuple[list[str], frozenset[str]]:
    return [", ".join(str(a) for a in op.axes)], frozenset({"axes"})


def validate_upsample(args: dict[str, Any], given: Given, span: Span) -> None:
    """``align_corners`` means something only to bilinear (PyTorch refuses it too)."""
    if args["align_corners"] and args["mode"] == "nearest":
        raise c.Invalid(
            "align_corners = true needs mode = bilinear; nearest has no corners to align",
            given["align_corners"][1],
            ["write upsample(..., mode = bilinear, align_corners = true), or drop align_corners"],
            code="E004",
        )
