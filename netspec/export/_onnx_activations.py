"""The activations of the IR as ONNX nodes, one function per op kind (see
``netspec.export._onnx_ops`` for the calling convention).

ONNX holds a float attribute (LeakyRelu's alpha, Selu's gamma) as float32. A model in
float64 whose constant float32 cannot hold exactly gets the same formula written with
constants of the model's dtype instead, so that it computes what docs/semantics.md says
to float64 precision; a float32 model always gets ONNX's own op.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from netspec.export._onnx_graph import GraphBuilder
from netspec.export._onnx_lowering import OnnxLowering
from netspec.ir import CheckedNode

Shape = tuple[int, ...]
Params = dict[str, str]

# PyTorch's constants (docs/semantics.md, selu).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _unary(op_type: str) -> Callable[..., None]:
    """The lowering of an activation that is ONNX's ``op_type`` with no attributes."""

    def lower(
        g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
    ) -> None:
        g.op(op_type, [x[0]], node.name)

    lower.__name__ = op_type.lower()
    return lower


def step(g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params) -> None:
    positive = g.op("Greater", [x[0], g.scalar("zero", 0.0)])
    g.op("Cast", [positive], node.name, to=g.onnx_dtype)


def silu(g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params) -> None:
    g.op("Mul", [x[0], g.op("Sigmoid", [x[0]])], node.name)


def relu6(g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params) -> None:
    g.op("Clip", [x[0], g.scalar("low", 0.0), g.scalar("high", 6.0)], node.name)


def _relu6_of_shift(g: GraphBuilder, x: str) -> str:
    """min(max(x + 3, 0), 6): written out, since ONNX's HardSigmoid multiplies by a
    float32 1/6 where PyTorch divides by 6."""
    shifted = g.op("Add", [x, g.scalar("three", 3.0)])
    return g.op("Clip", [shifted, g.scalar("low", 0.0), g.scalar("high", 6.0)])


def hard_sigmoid(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    g.op("Div", [_relu6_of_shift(g, x[0]), g.scalar("six", 6.0)], node.name)


def hard_swish(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    product = g.op("Mul", [x[0], _relu6_of_shift(g, x[0])])
    g.op("Div", [product, g.scalar("six", 6.0)], node.name)


def _where_positive(
    g: GraphBuilder, node: CheckedNode, x: str, positive: str, negative: str
) -> None:
    condition = g.op("Greater", [x, g.scalar("zero", 0.0)])
    g.op("Where", [condition, positive, negative], node.name)


def leaky_relu(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    slope = node.op.negative_slope  # type: ignore[union-attr]
    if g.exact_attribute(slope):
        g.op("LeakyRelu", [x[0]], node.name, alpha=slope)
        return
    _where_positive(g, node, x[0], x[0], g.op("Mul", [x[0], g.scalar("slope", slope)]))


def prelu(g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params) -> None:
    slope = p["weight"]
    rank = len(shapes[0])
    if node.op.per_channel and rank > 1:  # type: ignore[union-attr]
        # One slope per channel (axis 0 of the sample): [C] as [C, 1, ...].
        slope = g.op("Reshape", [slope, g.ints("slope_shape", [-1] + [1] * (rank - 1))])
    g.op("PRelu", [x[0], slope], node.name)


def _exp_minus_one(g: GraphBuilder, x: str, factor: float) -> str:
    """factor · (e^x - 1) on min(x, 0), the negative branch of elu and selu."""
    clipped = g.op("Min", [x, g.scalar("zero", 0.0)])
    grown = g.op("Sub", [g.op("Exp", [clipped]), g.scalar("one", 1.0)])
    return g.op("Mul", [grown, g.scalar("factor", factor)])


def elu(g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params) -> None:
    alpha = node.op.alpha  # type: ignore[union-attr]
    if g.exact_attribute(alpha):
        g.op("Elu", [x[0]], node.name, alpha=alpha)
        return
    _where_positive(g, node, x[0], x[0], _exp_minus_one(g, x[0], alpha))


def selu(g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params) -> None:
    if g.exact_attribute(SELU_ALPHA) and g.exact_attribute(SELU_SCALE):
        g.op("Selu", [x[0]], node.name, alpha=SELU_ALPHA, gamma=SELU_SCALE)
        return
    positive = g.op("Mul", [x[0], g.scalar("scale", SELU_SCALE)])
    _where_positive(g, node, x[0], positive, _exp_minus_one(g, x[0], SELU_SCALE * SELU_ALPHA))


def gelu(g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params) -> None:
    # Written out: ONNX's Gelu op is opset 20 and float-only in onnxruntime.
    if node.op.approximate == "tanh":  # type: ignore[union-attr]
        cube = g.op("Mul", [g.op("Mul", [x[0], x[0]]), x[0]])
        inner = g.op("Add", [x[0], g.op("Mul", [cube, g.scalar("c", 0.044715)])])
        scaled = g.op("Mul", [inner, g.scalar("sqrt_2_over_pi", math.sqrt(2.0 / math.pi))])
        cdf = g.op("Add", [g.op("Tanh", [scaled]), g.scalar("one", 1.0)])
    else:
        scaled = g.op("Mul", [x[0], g.scalar("inv_sqrt_2", 1.0 / math.sqrt(2.0))])
        cdf = g.op("Add", [g.op("Erf", [scaled]), g.scalar("one", 1.0)])
    half = g.op("Mul", [cdf, g.scalar("half", 0.5)])
    g.op("Mul", [x[0], half], node.name)


def softplus(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    # ONNX's Softplus has neither beta nor threshold: log(1 + e^(βx)) / β where βx ≤ t.
    op: Any = node.op
    scaled = x[0] if op.beta == 1 else g.op("Mul", [x[0], g.scalar("beta", op.beta)])
    smooth = g.op("Softplus", [scaled])
    if op.beta != 1:
        smooth = g.op("Div", [smooth, g.scalar("beta", op.beta)])
    linear = g.op("Greater", [scaled, g.scalar("threshold", op.threshold)])
    g.op("Where", [linear, x[0], smooth], node.name)


def _axis_op(op_type: str) -> Callable[..., None]:
    def lower(
        g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
    ) -> None:
        g.op(op_type, [x[0]], node.name, axis=node.op.axis + 1)  # type: ignore[union-attr]

    lower.__name__ = op_type.lower()
    return lower


ACTIVATIONS: dict[str, OnnxLowering] = {
    "step": OnnxLowering(step),
    "sigmoid": OnnxLowering(_unary("Sigmoid")),
    "tanh": OnnxLowering(_unary("Tanh")),
    "relu": OnnxLowering(_unary("Relu")),
    "silu": OnnxLowering(silu),
    # Mish is an ONNX op from opset 18.
    "mish": OnnxLowering(_unary("Mish"), 18),
    "relu6": OnnxLowering(relu6),
    "hard_sigmoid": OnnxLowering(hard_sigmoid),
    "hard_swish": OnnxLowering(hard_swish),
    "leaky_relu": OnnxLowering(leaky_relu),
    "prelu": OnnxLowering(prelu),
    "elu": OnnxLowering(elu),
    "selu": OnnxLowering(selu),
    "gelu": OnnxLowering(gelu),
    "softplus": OnnxLowering(softplus),
    "softmax": OnnxLowering(_axis_op("Softmax")),
    "log_softmax": OnnxLowering(_axis_op("LogSoftmax")),
}
