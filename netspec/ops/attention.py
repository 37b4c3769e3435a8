"""The rules of the sequence ops: ``multi_head_attention`` and ``positional_embedding``.

Shape rules (as :mod:`netspec.ops.shapes`), FLOP rules (as :mod:`netspec.ops.flops`) and
parameter rules (as :mod:`netspec.ops.params`), kept together so that these ops' facts
read in one place. Both take a per-sample [T, D] sequence: T steps of D features, time
first after the batch axis (PyTorch's ``batch_first=True``).

Attention's parameters are torch.nn.MultiheadAttention's, by name, layout and
initialisation, so that a netspec node's weights load into that module by name:
``in_proj_weight`` [3D, D] (xavier_uniform, the query, key and value rows stacked),
``in_proj_bias`` [3D] (zeros), ``out_proj.weight`` [D, D] (torch.nn.Linear's default,
uniform within 1 / sqrt(D)) and ``out_proj.bias`` [D] (zeros, as the module resets it).
"""

from __future__ import annotations

import math
from typing import Any

from netspec.ir import ops
from netspec.ir.graph import ParamSpec
from netspec.ir.init import Normal, Regularize, Uniform, XavierUniform, Zeros
from netspec.ir.ops import to_checked
from netspec.ops.params import _param
from netspec.ops.shapes import Shape, Shaped, ShapeProblem, fmt
from netspec.ops.signature import LayerDefaults

_OFF = Regularize.model_construct()


def _sequence(kind: str, shape: Shape) -> tuple[int, int]:
    """The steps and width of a [T, D] input, or the located E010 problem."""
    if len(shape) != 2:
        hint = [f"{kind} works on a [steps, features] sequence"]
        if len(shape) == 1:
            hint = [f"a vector of {shape[0]} is one step: reshape(1, {shape[0]}) -> {kind}(...)"]
        elif len(shape) == 3 and shape[0] == 1:
            hint = [
                f"an image read row by row is a sequence: reshape({shape[1]}, {shape[2]}) -> "
                f"dense(width) -> {kind}(...)"
            ]
        raise ShapeProblem(
            "E010", f"{kind} needs a [steps, features] input, found {fmt(shape)}", help=hint
        )
    return shape[0], shape[1]


def build_positional_embedding(args: dict[str, Any], defaults: LayerDefaults) -> Any:
    """The table starts as ``init`` says, else normal with std 0.02 (GPT-2's and BERT's);
    the file's ``defaults`` initialisation is for affine layers and does not reach it."""
    init = args["init"] if args["init"] is not None else Normal.model_construct(mean=0.0, std=0.02)
    return ops.PositionalEmbedding.model_construct(weight_init=init)


# -- shape rules -----------------------------------------------------------------------------


def multi_head_attention(op: ops.MultiHeadAttention, shapes: list[Shape]) -> Shaped:
    """[T, D] -> [T, D]; the heads split the width D evenly."""
    (shape,) = shapes
    _, width = _sequence("multi_head_attention", shape)
    if width % op.heads:
        divisors = [d for d in range(1, width + 1) if width % d == 0]
        near = [d for d in divisors if d < op.heads][-1:] + [d for d in divisors if d > op.heads][
            :1
        ]
        choice = " or ".join(f"heads = {d}" for d in near)
        raise ShapeProblem(
            "E015",
            f"multi_head_attention heads = {op.heads} must divide the width, and the input "
            f"{fmt(shape)} has {width} features",
            notes=["each head attends over width / heads of the features"],
            help=[f"use {choice} (dividing {width}), or change the width before it"],
        )
    return Shaped(shape, op)


def positional_embedding(op: ops.PositionalEmbedding, shapes: list[Shape]) -> Shaped:
    """[T, D] -> [T, D]: the table has the input's shape."""
    (shape,) = shapes
    _sequence("positional_embedding", shape)
    return Shaped(shape, to_checked(op))


# -- FLOPs -----------------------------------------------------------------------------------


def multi_head_attention_flops(op: ops.MultiHeadAttention, shapes: list[Shape], out: Shape) -> int:
    """The projections (2 per multiply-add, and their biases), the scores and the
    weighted sum (2 T^2 D each), their scaling (one per score) and the softmax (3 per
    score), per sample."""
    steps, width = shapes[0]
    projections = 2 * steps * width * 4 * width + (4 * steps * width if op.bias else 0)
    scores = steps * steps * op.heads
    return projections + 2 * 2 * steps * steps * width + 4 * scores


def positional_embedding_flops(op: ops.PositionalEmbedding, shapes: list[Shape], out: Shape) -> int:
    """One addition per value."""
    return math.prod(out)


# -- parameters ------------------------------------------------------------------------------


def multi_head_attention_params(
    node: str, op: ops.MultiHeadAttention, input_shape: Shape
) -> list[ParamSpec]:
    """torch.nn.MultiheadAttention's tensors for width D, in its state_dict's order. The
    keyword a backend function takes is the name with ``.`` as ``_``
    (``out_proj.weight`` arrives as ``out_proj_weight``)."""
    width = input_shape[-1]
    bound = 1.0 / math.sqrt(width)
    specs = [_param(node, "in_proj_weight", "weight", (3 * width, width), XavierUniform(), _OFF)]
    if op.bias:
        specs.append(_param(node, "in_proj_bias", "bias", (3 * width,), Zeros(), _OFF))
    out_weight = Uniform.model_construct(low=-bound, high=bound)
    specs.append(_nested(node, "out_proj", "weight", "weight", (width, width), out_weight))
    if op.bias:
        specs.append(_nested(node, "out_proj", "bias", "bias", (width,), Zeros()))
    return specs


def _nested(node: str, owner: str, attr: str, role: str, shape: Shape, init: object) -> ParamSpec:
    """A tensor of a submodule, ``<node>.<owner>.<attr>``, passed as ``<owner>_<attr>``."""
    spec = _param(node, f"{owner}_{attr}", role, shape, init, _OFF)
    return spec.model_copy(update={"name": f"{node}.{owner}.{attr}"})


def positional_embedding_params(
    node: str, op: ops.PositionalEmbedding, input_shape: Shape
) -> list[ParamSpec]:
    """The [T, D] table (``weight``), never penalised."""
    return [_param(node, "weight", "weight", input_shape, op.weight_init, _OFF)]
