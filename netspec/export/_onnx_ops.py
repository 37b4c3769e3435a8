"""How each op kind of the checked IR becomes ONNX nodes: one function per kind, in
``LOWERINGS`` (with the activations of ``_onnx_activations``), keyed by ``op.kind`` as the
backends' tables are.

A lowering is ``fn(g, node, inputs, shapes, params)``: ``g`` the
:class:`~netspec.export._onnx_graph.GraphBuilder`, ``inputs`` the ONNX tensors of the
node's inputs, ``shapes`` their per-sample IR shapes, ``params`` the initializer of each
parameter and state array by its attribute (``weight``, ``running_mean``...). It adds
the nodes that compute the IR node, the last one writing the tensor named after the IR
node (or, for an op that is the identity at inference, aliases it). Every tensor has a
leading batch axis, so per-sample axis ``a`` is ONNX axis ``a + 1``, and a reshape keeps
the batch with a 0 in its target shape. The formulas are those of docs/semantics.md, in
inference form (batchnorm with running statistics, no dropout).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from netspec.backends.numpy.nn_resample import adaptive_weights, upsample_weights
from netspec.export._onnx_activations import ACTIVATIONS
from netspec.export._onnx_graph import GraphBuilder
from netspec.export._onnx_lowering import MIN_OPSET, OnnxLowering
from netspec.export._onnx_recurrent import recurrent
from netspec.ir import CheckedNode

Shape = tuple[int, ...]
Params = dict[str, str]


def _bias(g: GraphBuilder, y: str, params: Params, out: str | None) -> str:
    """``y + bias`` when the node has a bias, written to ``out``."""
    if "bias" not in params:
        return y if out is None else g.op("Identity", [y], out)
    return g.op("Add", [y, params["bias"]], out)


def _linear(
    g: GraphBuilder, x: str, weight: str, bias: str | None, rank: int, out: str | None
) -> str:
    """``x Wᵀ + b`` over the last axis: Gemm for [N, in], MatMul for sequences."""
    if rank == 2:
        inputs = [x, weight] if bias is None else [x, weight, bias]
        return g.op("Gemm", inputs, out, transB=1)
    product = g.op("MatMul", [x, g.op("Transpose", [weight], perm=[1, 0])])
    if bias is None:
        return g.op("Identity", [product], out) if out is not None else product
    return g.op("Add", [product, bias], out)


def dense(g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params) -> None:
    _linear(g, x[0], p["weight"], p.get("bias"), len(shapes[0]) + 1, node.name)


def _conv_inputs(x: str, p: Params) -> list[str]:
    return [x, p["weight"]] + ([p["bias"]] if "bias" in p else [])


def conv2d(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    (top, bottom), (left, right) = op.padding
    g.op(
        "Conv",
        _conv_inputs(x[0], p),
        node.name,
        kernel_shape=list(op.kernel),
        strides=list(op.stride),
        dilations=list(op.dilation),
        pads=[top, left, bottom, right],
        group=op.groups,
    )


def conv1d(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    g.op(
        "Conv",
        _conv_inputs(x[0], p),
        node.name,
        kernel_shape=[op.kernel],
        strides=[op.stride],
        dilations=[op.dilation],
        pads=[op.padding[0], op.padding[1]],
        group=op.groups,
    )


def conv2d_transpose(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    """PyTorch's output is the full transposed convolution cropped by ``padding`` on both
    sides of an axis, then ``output_padding`` more rows: ONNX's pads say the same with
    ``padding - output_padding`` at the end. Where that is negative (output_padding >
    padding, which PyTorch allows up to the dilation and onnxruntime refuses at or past
    the stride) the missing rows hold no input, only the bias: they are padded on."""
    op: Any = node.op
    begin = [op.padding[0][0], op.padding[1][0]]
    end = [b - extra for b, extra in zip(begin, op.output_padding, strict=True)]
    grown = [max(-e, 0) for e in end]
    attributes = {
        "kernel_shape": list(op.kernel),
        "strides": list(op.stride),
        "dilations": list(op.dilation),
        "pads": begin + [max(e, 0) for e in end],
        "group": op.groups,
    }
    if not any(grown):
        g.op("ConvTranspose", _conv_inputs(x[0], p), node.name, **attributes)
        return
    y = g.op("ConvTranspose", [x[0], p["weight"]], **attributes)
    y = g.op("Pad", [y, g.ints("pads", [0, 0, 0, 0, 0, 0, *grown])], mode="constant")
    if "bias" in p:
        g.op("Add", [y, _channel_view(g, p["bias"], 3)], node.name)
    else:
        g.op("Identity", [y], node.name)


def _pool(
    g: GraphBuilder,
    node: CheckedNode,
    x: str,
    kind: str,
    kernel: list[int],
    stride: list[int],
    pads: list[tuple[int, int]],
) -> None:
    """MaxPool pads with -inf (its padded cells never win); average pooling pads with zeros
    that count in the divisor, written as an explicit Pad so that every window divides by
    its full size whatever the runtime's count_include_pad handling of uneven pads."""
    begin, end = [b for b, _ in pads], [e for _, e in pads]
    if kind == "MaxPool":
        g.op("MaxPool", [x], node.name, kernel_shape=kernel, strides=stride, pads=begin + end)
        return
    if any(begin + end):
        x = g.op("Pad", [x, g.ints("pads", [0, 0, *begin, 0, 0, *end])], mode="constant")
    g.op("AveragePool", [x], node.name, kernel_shape=kernel, strides=stride)


def maxpool(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    _pool(g, node, x[0], "MaxPool", list(op.kernel), list(op.stride), list(op.padding))


def avgpool(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    _pool(g, node, x[0], "AveragePool", list(op.kernel), list(op.stride), list(op.padding))


def maxpool1d(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    _pool(g, node, x[0], "MaxPool", [op.kernel], [op.stride], [tuple(op.padding)])


def avgpool1d(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    _pool(g, node, x[0], "AveragePool", [op.kernel], [op.stride], [tuple(op.padding)])


def global_avgpool(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    axes = list(range(2, len(shapes[0]) + 1))
    g.op("Identity", [g.reduce_mean(x[0], axes, keepdims=False)], node.name)


def _channel_view(g: GraphBuilder, array: str, rank: int) -> str:
    """A per-channel [C] array as [C, 1, ...] to broadcast over a sample of ``rank`` axes."""
    if rank <= 1:
        return array
    return g.op("Reshape", [array, g.ints("channel_shape", [-1] + [1] * (rank - 1))])


def batchnorm(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    rank = len(shapes[0])
    if not g.exact_attribute(op.eps):
        # A float64 model whose eps float32 cannot hold: the formula with eps in float64.
        eps = g.scalar("eps", op.eps)
        invstd = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [p["running_var"], eps])])])
        centred = g.op("Sub", [x[0], _channel_view(g, p["running_mean"], rank)])
        xhat = g.op("Mul", [centred, _channel_view(g, invstd, rank)])
        _affine(g, node, xhat, p, rank)
        return
    channels = shapes[0][0]
    scale = p.get("weight") or g.const("scale", np.ones(channels))
    shift = p.get("bias") or g.const("shift", np.zeros(channels))
    g.op(
        "BatchNormalization",
        [x[0], scale, shift, p["running_mean"], p["running_var"]],
        node.name,
        epsilon=op.eps,
    )


def _affine(g: GraphBuilder, node: CheckedNode, xhat: str, p: Params, rank: int | None) -> None:
    """``xhat · weight + bias`` (per channel when ``rank`` is given, else elementwise over
    the trailing axes) into the node's tensor; ``xhat`` alone without affine."""
    if "weight" not in p:
        g.op("Identity", [xhat], node.name)
        return
    view = (lambda a: _channel_view(g, a, rank)) if rank is not None else (lambda a: a)
    scaled = g.op("Mul", [xhat, view(p["weight"])])
    g.op("Add", [scaled, view(p["bias"])], node.name)


def _normalized(g: GraphBuilder, x: str, axes: list[int], eps: float) -> str:
    """(x - mean) / sqrt(var + eps) over ``axes``, biased variance (docs/semantics.md)."""
    centred = g.op("Sub", [x, g.reduce_mean(x, axes, keepdims=True)])
    variance = g.reduce_mean(g.op("Mul", [centred, centred]), axes, keepdims=True)
    return g.op("Div", [centred, g.op("Sqrt", [g.op("Add", [variance, g.scalar("eps", eps)])])])


def layer_norm(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    rank = len(shapes[0])
    if not g.exact_attribute(op.eps):
        axes = list(range(rank - op.axes + 1, rank + 1))
        _affine(g, node, _normalized(g, x[0], axes, op.eps), p, None)
        return
    normalized = shapes[0][rank - op.axes :]
    scale = p.get("weight") or g.const("scale", np.ones(normalized))
    inputs = [x[0], scale] + ([p["bias"]] if "bias" in p else [])
    g.op("LayerNormalization", inputs, node.name, axis=-op.axes, epsilon=op.eps)


def group_norm(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    # GroupNormalization's scale is per group before opset 21 and per channel after;
    # the decomposition means the same at every opset (docs/semantics.md, group_norm).
    op: Any = node.op
    shape = shapes[0]
    grouped = g.op("Reshape", [x[0], g.ints("grouped", [0, op.groups, -1])])
    xhat = g.op("Reshape", [_normalized(g, grouped, [2], op.eps), g.ints("shape", [0, *shape])])
    _affine(g, node, xhat, p, len(shape))


def standardize(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    g.op("Div", [g.op("Sub", [x[0], p["mean"]]), p["std"]], node.name)


def inference_identity(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    """identity, and dropout at inference: no node, the IR name refers to the input."""
    g.alias(node.name, x[0])


def flatten(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    g.op("Flatten", [x[0]], node.name, axis=1)


def reshape(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    g.op("Reshape", [x[0], g.ints("shape", [0, *node.output.shape])], node.name)


def add(g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params) -> None:
    g.op("Sum", x, node.name)


def multiply(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    # Left to right, as the backends multiply.
    product = x[0]
    for index, other in enumerate(x[1:], start=2):
        product = g.op("Mul", [product, other], node.name if index == len(x) else None)


def concat(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    g.op("Concat", x, node.name, axis=node.op.axis + 1)  # type: ignore[union-attr]


def permute(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    axes = node.op.axes  # type: ignore[union-attr]
    g.op("Transpose", [x[0]], node.name, perm=[0, *(a + 1 for a in axes)])


def transpose(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    perm = list(range(len(shapes[0]) + 1))
    perm[op.axis0 + 1], perm[op.axis1 + 1] = perm[op.axis1 + 1], perm[op.axis0 + 1]
    g.op("Transpose", [x[0]], node.name, perm=perm)


def slice_axis(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    bounds = [g.ints(name, [v]) for name, v in (("starts", op.start), ("ends", op.stop))]
    g.op("Slice", [x[0], *bounds, g.ints("axes", [op.axis + 1]), g.ints("steps", [op.step])],
         node.name)  # fmt: skip


def _separable(
    g: GraphBuilder, node: CheckedNode, x: str, rows: np.ndarray, cols: np.ndarray
) -> None:
    """rows @ x @ colsᵀ over the last two axes: the linear maps of adaptive pooling and
    upsampling (docs/semantics.md), the same matrices and order as the NumPy backend's,
    so they run in float64 too (onnxruntime has no float64 Resize or AveragePool)."""
    left = g.op("MatMul", [g.const("rows", rows), x])
    g.op("MatMul", [left, g.const("cols", cols.T)], node.name)


def adaptive_avgpool(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    size = node.op.size  # type: ignore[union-attr]
    _, height, width = shapes[0]
    rows = adaptive_weights(height, size[0], np.float64)
    _separable(g, node, x[0], rows, adaptive_weights(width, size[1], np.float64))


def upsample(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    op: Any = node.op
    _, height, width = shapes[0]
    rows = upsample_weights(height, op.scale[0], op.mode, op.align_corners, np.float64)
    cols = upsample_weights(width, op.scale[1], op.mode, op.align_corners, np.float64)
    _separable(g, node, x[0], rows, cols)


def multi_head_attention(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    """Self-attention as MatMul, Softmax and reshapes (docs/semantics.md): ONNX's own
    Attention op exists only from opset 23, in few runtimes."""
    op: Any = node.op
    steps, width = shapes[0]
    heads, depth = op.heads, width // op.heads
    qkv = _linear(g, x[0], p["in_proj_weight"], p.get("in_proj_bias"), 3, None)
    split = g.ints("heads_shape", [0, steps, heads, depth])
    parts = []
    for index, perm in enumerate(([0, 2, 1, 3], [0, 2, 3, 1], [0, 2, 1, 3])):
        bounds = [g.ints("start", [index * width]), g.ints("stop", [(index + 1) * width])]
        part = g.op("Slice", [qkv, *bounds, g.ints("axes", [2])])
        parts.append(g.op("Transpose", [g.op("Reshape", [part, split])], perm=perm))
    q, k_t, v = parts
    scores = g.op("Mul", [g.op("MatMul", [q, k_t]), g.scalar("scale", 1.0 / math.sqrt(depth))])
    if op.causal:
        mask = np.where(np.triu(np.ones((steps, steps), dtype=bool), 1), -np.inf, 0.0)
        scores = g.op("Add", [scores, g.const("causal_mask", mask)])
    weights = g.op("Softmax", [scores], axis=-1)
    joined = g.op("Transpose", [g.op("MatMul", [weights, v])], perm=[0, 2, 1, 3])
    joined = g.op("Reshape", [joined, g.ints("joined_shape", [0, steps, width])])
    _linear(g, joined, p["out_proj_weight"], p.get("out_proj_bias"), 3, node.name)


def positional_embedding(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    g.op("Add", [x[0], p["weight"]], node.name)


def embedding(
    g: GraphBuilder, node: CheckedNode, x: list[str], shapes: list[Shape], p: Params
) -> None:
    """Row i of the table for each index i: ONNX's Gather (int32 or int64 indices). The
    indices were checked to lie in 0..num-1 where they entered netspec; ONNX leaves an
    index outside the table undefined (onnxruntime refuses it)."""
    g.op("Gather", [p["weight"], x[0]], node.name, axis=0)


def _entry(fn: Callable[..., Any], minimum: int = MIN_OPSET) -> OnnxLowering:
    return OnnxLowering(fn, minimum)


LOWERINGS: dict[str, OnnxLowering] = {
    "dense": _entry(dense),
    "conv2d": _entry(conv2d),
    "conv2d_transpose": _entry(conv2d_transpose),
    "maxpool": _entry(maxpool),
    "avgpool": _entry(avgpool),
    "global_avgpool": _entry(global_avgpool),
    "conv1d": _entry(conv1d),
    "maxpool1d": _entry(maxpool1d),
    "avgpool1d": _entry(avgpool1d),
    "batchnorm": _entry(batchnorm),
    # LayerNormalization is an ONNX op from opset 17.
    "layer_norm": _entry(layer_norm, 17),
    "group_norm": _entry(group_norm),
    "dropout": _entry(inference_identity),
    "flatten": _entry(flatten),
    "reshape": _entry(reshape),
    "add": _entry(add),
    "multiply": _entry(multiply),
    "concat": _entry(concat),
    "identity": _entry(inference_identity),
    "standardize": _entry(standardize),
    "permute": _entry(permute),
    "transpose": _entry(transpose),
    "slice": _entry(slice_axis),
    "adaptive_avgpool": _entry(adaptive_avgpool),
    "upsample": _entry(upsample),
    "multi_head_attention": _entry(multi_head_attention),
    "positional_embedding": _entry(positional_embedding),
    "embedding": _entry(embedding),
    # ONNX's RNN, LSTM and GRU, one node per layer, gates reordered (_onnx_recurrent).
    "rnn": _entry(recurrent),
    "lstm": _entry(recurrent),
    "gru": _entry(recurrent),
    **ACTIVATIONS,
}
