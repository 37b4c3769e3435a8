"""The rules of ``embedding``, the op that takes integer indices.

Its signature (with the check of ``padding_idx`` against ``num``), shape rule,
parameter rule and summary text, as :mod:`netspec.ops.shapes`, :mod:`netspec.ops.params`
and :mod:`netspec.ops.text` write them for the other ops. Semantics and parameter layout
are torch.nn.Embedding's: ``weight [num, dim]``, an index tensor of any shape gains a last
axis of ``dim``, and a negative ``padding_idx`` counts from the end.
"""

from __future__ import annotations

from typing import Any

from netspec.elaborate import convert as c
from netspec.ir import ops
from netspec.ir.graph import ParamSpec, Span
from netspec.ir.ops import to_checked
from netspec.ops.params import _param
from netspec.ops.shapes import Shape, Shaped
from netspec.ops.signature import Given, LayerDefaults, Param, Signature


def _padding_idx(op: ops.Embedding) -> int | None:
    """``padding_idx`` counted from 0 (PyTorch's rule for a negative one)."""
    if op.padding_idx is None or op.padding_idx >= 0:
        return op.padding_idx
    return op.num + op.padding_idx


def build_embedding(args: dict[str, Any], defaults: LayerDefaults) -> ops.Embedding:
    """The op as written; without ``init`` the weight starts as torch's, normal(0, 1) (a
    file's ``defaults { init = ... }`` is for affine layers and does not apply)."""
    values: dict[str, Any] = {
        "num": args["num"],
        "dim": args["dim"],
        "padding_idx": args["padding_idx"],
        "regularize": args["regularize"] if args["regularize"] is not None else defaults.regularize,
    }
    if args["init"] is not None:
        values["weight_init"] = args["init"]
    else:
        values["weight_init"] = ops.Embedding.model_fields["weight_init"].default
    return ops.Embedding.model_construct(**values)


def validate_embedding(args: dict[str, Any], given: Given, span: Span) -> None:
    """``padding_idx`` names a row: -num <= padding_idx < num."""
    padding = args["padding_idx"]
    num = args["num"]
    if padding is not None and not -num <= padding < num:
        raise c.Invalid(
            f"embedding padding_idx {padding} is not a row of the {num}-row table "
            f"(expected {-num}..{num - 1})",
            given["padding_idx"][1],
            [f"use an index in 0..{num - 1} (or -1 for the last row), or none"],
            code="E004",
        )


SIGNATURE = Signature(
    (
        Param("num", c.positive_int),
        Param("dim", c.positive_int),
        Param("padding_idx", c.optional_integer, None),
        Param("init", c.init_scheme, None),
        Param("regularize", c.regularize, None),
    ),
    3,
    build_embedding,
    example="embedding(65, 32)",
    validate=validate_embedding,
)


def embedding(op: ops.Embedding, shapes: list[Shape]) -> Shaped:
    """Any index shape gains a last axis of ``dim``; ``padding_idx`` counts from 0."""
    (shape,) = shapes
    return Shaped((*shape, op.dim), to_checked(op, padding_idx=_padding_idx(op)))


def embedding_params(node: str, op: ops.Embedding, input_shape: Shape) -> list[ParamSpec]:
    """weight [num, dim] (torch.nn.Embedding's), its padding row zeroed after drawing."""
    spec = _param(node, "weight", "weight", (op.num, op.dim), op.weight_init, op.regularize)
    padding = _padding_idx(op)
    if padding is None:
        return [spec]
    return [spec.model_copy(update={"zero_rows": (padding,)})]


def embedding_text(op: Any) -> tuple[list[str], frozenset[str]]:
    return [str(op.num), str(op.dim)], frozenset({"num", "dim"})
