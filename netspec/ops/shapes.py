"""Shape rules of the ops, on the IR alone (no backend is ever needed).

Each rule takes the written op and its per-sample input shapes and returns the output
shape and the op with what the rule resolved (explicit paddings, non-negative axes,
inferred reshape sizes), or raises :class:`ShapeProblem`. The checker keeps the op's
checked form (:func:`netspec.ir.ops.to_checked`), which drops initialisation and
penalties: the parameter rules read those from the written op. The registry
(:mod:`netspec.ops.table`) names each op's rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netspec.ir import ops
from netspec.ir.ops import to_checked

Shape = tuple[int, ...]


@dataclass
class ShapeProblem(Exception):
    code: str
    message: str
    notes: list[str] = field(default_factory=list)
    help: list[str] = field(default_factory=list)
    # Index of the input at fault, for a label at that input's definition.
    inputs_at_fault: tuple[int, ...] = ()
    # Text whose insertion just before the op's call resolves the problem ("flatten -> "),
    # offered to editors as a fix.
    insert_before: str = ""


@dataclass(frozen=True)
class Shaped:
    """An op's output shape per sample, and the op with its geometry made explicit."""

    shape: Shape
    op: Any


ShapeRule = Callable[[Any, list[Shape]], Shaped]


def fmt(shape: Shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _image(kind: str, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        hint = []
        if len(shape) == 1:
            side = math.isqrt(shape[0])
            if side * side == shape[0]:
                hint = [f"reshape the vector first: reshape(1, {side}, {side}) -> {kind}(...)"]
            else:
                hint = [f"{kind} works on images: give the model an input like x: [1, 28, 28]"]
        elif len(shape) == 2 and kind in ("conv2d", "maxpool", "avgpool"):
            one_d = "conv1d" if kind == "conv2d" else f"{kind}1d"
            hint = [f"for a [channels, length] sequence use {one_d}(...)"]
        raise ShapeProblem(
            "E010",
            f"{kind} needs a [channels, height, width] input, found {fmt(shape)}",
            help=hint,
        )
    return shape[0], shape[1], shape[2]


def _sequence(kind: str, shape: Shape) -> tuple[int, int]:
    """The channels and length of a one-dimensional op's [channels, length] input."""
    if len(shape) != 2:
        hint = []
        if len(shape) == 1:
            hint = [f"reshape the vector first: reshape(1, {shape[0]}) -> {kind}(...)"]
        elif len(shape) == 3:
            two_d = kind.removesuffix("1d").replace("conv", "conv2d")
            hint = [f"for a [channels, height, width] image use {two_d}(...)"]
        raise ShapeProblem(
            "E010", f"{kind} needs a [channels, length] input, found {fmt(shape)}", help=hint
        )
    return shape[0], shape[1]


def _resolve_padding(
    padding: Any,
    size: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[tuple[int, int], ...]:
    """Explicit (before, after) pads per spatial axis; ``padding`` is ``same``, ``valid``
    or already explicit."""
    if padding == "valid":
        return tuple((0, 0) for _ in size)
    if padding == "same":
        # TF-style "same": out = ceil(in / stride); any odd pixel of padding goes after.
        sides = []
        for axis in range(len(size)):
            out = -(-size[axis] // stride[axis])
            span = dilation[axis] * (kernel[axis] - 1) + 1
            total = max((out - 1) * stride[axis] + span - size[axis], 0)
            sides.append((total // 2, total - total // 2))
        return tuple(sides)
    return padding  # type: ignore[no-any-return]


# The names of the spatial axes in messages, by their number.
_AXIS_NAMES = {1: ("length",), 2: ("height", "width")}


def _window_out(
    kind: str,
    size: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
) -> tuple[int, ...]:
    outs = []
    for axis, axis_name in enumerate(_AXIS_NAMES[len(size)]):
        padded = size[axis] + pads[axis][0] + pads[axis][1]
        span = dilation[axis] * (kernel[axis] - 1) + 1
        out = (padded - span) // stride[axis] + 1
        if out <= 0:
            # out <= 0 exactly when the padded input is smaller than the (dilated) window;
            # the message shows the size the formula gives, and the formula below shows it.
            window = "(dilation * (kernel - 1) + 1)" if dilation[axis] > 1 else "kernel"
            raise ShapeProblem(
                "E011",
                f"{kind} output {axis_name} would be {out}: "
                f"the input {axis_name} {size[axis]} (padded to {padded}) is smaller than the "
                f"{'dilated ' if dilation[axis] > 1 else ''}kernel {span}",
                notes=[
                    f"output = (in + pad - {window}) // stride + 1 = "
                    f"({size[axis]} + {pads[axis][0] + pads[axis][1]} - {span}) "
                    f"// {stride[axis]} + 1 = {out}"
                ],
                help=[
                    "use a smaller kernel, add padding (padding = same), "
                    "or pool less before this layer"
                ],
            )
        outs.append(out)
    return tuple(outs)


def dense(op: ops.Dense, shapes: list[Shape]) -> Shaped:
    """[F] -> [units]; on a [T, F] sequence each step: [T, units] (torch.nn.Linear and
    Keras Dense act on the last axis). A sample of three axes or more is an image whose
    flatten was forgotten, far more often than a meant batch of sequences: E012."""
    (shape,) = shapes
    if len(shape) == 2:
        return Shaped((shape[0], op.units), op)
    if len(shape) != 1:
        raise ShapeProblem(
            "E012",
            f"dense needs a vector per sample, found {fmt(shape)}",
            notes=[
                f"flatten would give [{math.prod(shape)}]",
                "on a [steps, features] sequence dense acts on each step; it takes no more "
                "axes than two",
            ],
            help=[f"insert flatten before dense: ... -> flatten -> dense({op.units})"],
            insert_before="flatten -> ",
        )
    return Shaped((op.units,), op)


def _one_axis(padding: Any) -> Any:
    """A 1-D op's padding in the per-axis form of the shared rules: ``same`` and
    ``valid`` as they are, (left, right) as ((left, right),)."""
    return padding if isinstance(padding, str) else (padding,)


def _check_groups(op: Any, channels: int) -> None:
    if channels % op.groups or op.filters % op.groups:
        raise ShapeProblem(
            "E015",
            f"groups = {op.groups} must divide the input channels ({channels}) and the "
            f"filters ({op.filters})",
            help=[
                f"use groups = {math.gcd(channels, op.filters)} (it divides both), "
                "or change the filters"
            ],
        )


def conv2d(op: ops.Conv2d, shapes: list[Shape]) -> Shaped:
    channels, height, width = _image("conv2d", shapes[0])
    _check_groups(op, channels)
    pads = _resolve_padding(op.padding, (height, width), op.kernel, op.stride, op.dilation)
    out_h, out_w = _window_out("conv2d", (height, width), op.kernel, op.stride, pads, op.dilation)
    return Shaped((op.filters, out_h, out_w), to_checked(op, padding=pads))


def conv2d_transpose(op: ops.Conv2dTranspose, shapes: list[Shape]) -> Shaped:
    """out = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1,
    PyTorch's ConvTranspose2d."""
    channels, height, width = _image("conv2d_transpose", shapes[0])
    _check_groups(op, channels)
    (top, bottom), (left, right) = op.padding
    if top != bottom or left != right:
        raise ShapeProblem(
            "E004",
            f"conv2d_transpose pads both sides of an axis alike, found padding "
            f"[[{top}, {bottom}], [{left}, {right}]]",
            help=["give the padding as p or [height, width], as PyTorch's ConvTranspose2d"],
        )
    outs = []
    for axis, axis_name in enumerate(("height", "width")):
        size, stride, pad = (height, width)[axis], op.stride[axis], op.padding[axis][0]
        span = op.dilation[axis] * (op.kernel[axis] - 1)
        extra = op.output_padding[axis]
        out = (size - 1) * stride - 2 * pad + span + extra + 1
        if out <= 0:
            raise ShapeProblem(
                "E011",
                f"conv2d_transpose output {axis_name} would be {out}: the padding "
                f"{pad} on each side crops more than the layer makes",
                notes=[
                    "output = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) "
                    f"+ output_padding + 1 = ({size} - 1) * {stride} - 2 * {pad} + {span} "
                    f"+ {extra} + 1 = {out}"
                ],
                help=["use less padding, a larger kernel or a larger stride"],
            )
        outs.append(out)
    return Shaped((op.filters, outs[0], outs[1]), to_checked(op))


def conv1d(op: ops.Conv1d, shapes: list[Shape]) -> Shaped:
    """conv2d's rule on the one axis of a [channels, length] input."""
    channels, length = _sequence("conv1d", shapes[0])
    _check_groups(op, channels)
    window = ((length,), (op.kernel,), (op.stride,))
    (pads,) = _resolve_padding(_one_axis(op.padding), *window, (op.dilation,))
    (out,) = _window_out("conv1d", *window, (pads,), (op.dilation,))
    return Shaped((op.filters, out), to_checked(op, padding=pads))


def _check_pool_pads(kind: str, pads: tuple[tuple[int, int], ...], kernel: tuple[int, ...]) -> None:
    for axis, sides in enumerate(pads):
        if max(sides) >= kernel[axis]:
            raise ShapeProblem(
                "E004",
                f"{kind} padding {max(sides)} must be smaller than the kernel {kernel[axis]}",
                help=["a window made only of padding has no value"],
            )


def pool(kind: str) -> Callable[[Any, list[Shape]], Shaped]:
    """The rule of a pooling op: an image in, fewer pixels out, the channels kept."""

    def rule(op: Any, shapes: list[Shape]) -> Shaped:
        channels, height, width = _image(kind, shapes[0])
        pads = _resolve_padding(op.padding, (height, width), op.kernel, op.stride, (1, 1))
        _check_pool_pads(kind, pads, op.kernel)
        out_h, out_w = _window_out(kind, (height, width), op.kernel, op.stride, pads, (1, 1))
        return Shaped((channels, out_h, out_w), to_checked(op, padding=pads))

    return rule


def pool1d(kind: str) -> Callable[[Any, list[Shape]], Shaped]:
    """The rule of a one-dimensional pooling op: the pools' rule on the length axis."""

    def rule(op: Any, shapes: list[Shape]) -> Shaped:
        channels, length = _sequence(kind, shapes[0])
        window = ((length,), (op.kernel,), (op.stride,))
        pads = _resolve_padding(_one_axis(op.padding), *window, (1,))
        _check_pool_pads(kind, pads, (op.kernel,))
        (out,) = _window_out(kind, *window, pads, (1,))
        return Shaped((channels, out), to_checked(op, padding=pads[0]))

    return rule


def global_avgpool(op: ops.GlobalAvgPool, shapes: list[Shape]) -> Shaped:
    """The mean of each channel of an image [C, H, W] or a sequence [C, L]: [C]."""
    (shape,) = shapes
    if len(shape) not in (2, 3):
        raise ShapeProblem(
            "E010",
            "global_avgpool needs a [channels, length] or [channels, height, width] input, "
            f"found {fmt(shape)}",
            help=["it averages each channel over the axes after it"] if len(shape) == 1 else [],
        )
    return Shaped((shape[0],), op)


def batchnorm(op: ops.BatchNorm, shapes: list[Shape]) -> Shaped:
    (shape,) = shapes
    if len(shape) not in (1, 3):
        raise ShapeProblem(
            "E010",
            f"batchnorm needs a [features] or [channels, height, width] input, found {fmt(shape)}",
        )
    return Shaped(shape, op)


def layer_norm(op: ops.LayerNorm, shapes: list[Shape]) -> Shaped:
    """The shape is kept; the sample must have the ``axes`` it normalises over."""
    (shape,) = shapes
    if op.axes > len(shape):
        raise ShapeProblem(
            "E004",
            f"layer_norm(axes = {op.axes}) normalises over the last {op.axes} axes, and its "
            f"per-sample input {fmt(shape)} has {len(shape)}",
            notes=["axes count per sample, from the end: the batch axis is not counted"],
            help=[f"axes = {len(shape)} normalises each whole sample"],
        )
    return Shaped(shape, op)


def group_norm(op: ops.GroupNorm, shapes: list[Shape]) -> Shaped:
    """The shape is kept; the groups split the channels (axis 0) evenly."""
    (shape,) = shapes
    channels = shape[0]
    if channels % op.groups:
        divisors = [d for d in range(1, channels + 1) if channels % d == 0]
        near = [max(d for d in divisors if d < op.groups)]
        near += [d for d in divisors if d > op.groups][:1]
        choice = " or ".join(f"groups = {d}" for d in near)
        raise ShapeProblem(
            "E015",
            f"group_norm groups = {op.groups} must divide the channels, and the input has "
            f"{channels}",
            notes=["the groups split axis 0 of each sample, its channels, into equal parts"],
            help=[f"use {choice} (dividing {channels})"],
        )
    return Shaped(shape, op)


def same_shape(op: Any, shapes: list[Shape]) -> Shaped:
    """The rule of an elementwise op of one input: the shape is kept."""
    (shape,) = shapes
    return Shaped(shape, op)


def _axis(kind: str, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ShapeProblem(
            "E004",
            f"{kind} axis {axis} is out of range for a per-sample tensor of rank {rank}",
            notes=["axes count per sample: the batch axis is not counted"],
        )
    return axis % rank


def softmax(op: Any, shapes: list[Shape]) -> Shaped:
    """softmax and log_softmax: the shape is kept; the axis must exist."""
    (shape,) = shapes
    return Shaped(shape, to_checked(op, axis=_axis(op.kind, op.axis, len(shape))))


def flatten(op: ops.Flatten, shapes: list[Shape]) -> Shaped:
    return Shaped((math.prod(shapes[0]),), op)


def reshape(op: ops.Reshape, shapes: list[Shape]) -> Shaped:
    (shape,) = shapes
    size = math.prod(shape)
    target = list(op.shape)
    unknown = [i for i, d in enumerate(target) if d == -1]
    if len(unknown) > 1 or any(d == 0 or d < -1 for d in target):
        raise ShapeProblem(
            "E014",
            f"reshape({', '.join(str(d) for d in op.shape)}): use positive sizes and at most "
            "one -1",
        )
    known = math.prod(d for d in target if d != -1)
    if unknown:
        if size % known:
            raise ShapeProblem(
                "E014",
                f"cannot reshape {fmt(shape)} ({size} values) to {fmt(tuple(target))}: "
                f"{size} is not divisible by {known}",
            )
        target[unknown[0]] = size // known
    elif known != size:
        raise ShapeProblem(
            "E014",
            f"cannot reshape {fmt(shape)} ({size} values) to {fmt(tuple(target))} ({known} values)",
        )
    return Shaped(tuple(target), op.model_copy(update={"shape": tuple(target)}))


def elementwise(op: Any, shapes: list[Shape]) -> Shaped:
    """add and multiply: every input of one shape, which the output keeps."""
    first = shapes[0]
    for index, shape in enumerate(shapes[1:], start=1):
        if shape != first:
            raise ShapeProblem(
                "E010",
                f"{op.kind} needs equal shapes, found {' and '.join(fmt(s) for s in shapes)}",
                help=[
                    "pad or project one side: conv2d(..., padding = same), or a 1x1 conv2d "
                    "to match channels"
                ]
                if len(first) == 3
                else ["project one side with dense(...) to match"],
                inputs_at_fault=(0, index),
            )
    return Shaped(first, op)


def concat(op: ops.Concat, shapes: list[Shape]) -> Shaped:
    rank = len(shapes[0])
    for index, shape in enumerate(shapes[1:], start=1):
        if len(shape) != rank:
            raise ShapeProblem(
                "E010",
                f"concat needs tensors of equal rank, found {' and '.join(fmt(s) for s in shapes)}",
                inputs_at_fault=(0, index),
            )
    axis = _axis("concat", op.axis, rank)
    for index, shape in enumerate(shapes[1:], start=1):
        if any(a != b for d, (a, b) in enumerate(zip(shapes[0], shape, strict=True)) if d != axis):
            raise ShapeProblem(
                "E010",
                f"concat along axis {axis} needs all other sizes equal, found "
                f"{' and '.join(fmt(s) for s in shapes)}",
                inputs_at_fault=(0, index),
            )
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    return Shaped(tuple(out), to_checked(op, axis=axis))
