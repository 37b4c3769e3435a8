"""A model's inputs as its header declares them: each read from ``NAME: DTYPE[DIMS]``,
and those no statement reads reported once the body is elaborated."""

from __future__ import annotations

from dataclasses import dataclass

from lark import Tree

from netspec.diagnostics import Diagnostics, did_you_mean
from netspec.elaborate import convert as c
from netspec.elaborate.values import Evaluator, Value
from netspec.ir.graph import INDEX_DTYPES, Span

# Floats, or integer indices (for embedding).
INPUT_DTYPES = ("float32", "float64", *INDEX_DTYPES)


@dataclass(frozen=True)
class ModelInput:
    """One input as a model's header declares it, with where its name is written."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    span: Span


def read_model_input(
    tree: Tree, evaluator: Evaluator, diagnostics: Diagnostics, constants: dict[str, Value]
) -> ModelInput | None:
    """One input of a model header, ``NAME: [DIMS]`` or ``NAME: DTYPE[DIMS]``; None when
    an error was reported."""
    input_token, input_type = tree.children
    dtype = "float32"
    shape_tree = input_type.children[-1]
    if len(input_type.children) == 2:
        dtype_token = input_type.children[0]
        dtype = str(dtype_token)
        if dtype not in INPUT_DTYPES:
            diagnostics.error(
                "E006",
                f"unknown input dtype '{dtype}'",
                evaluator.span(dtype_token),
                help=did_you_mean(dtype, INPUT_DTYPES)
                or ["use float32 or float64, or int64 or int32 for indices"],
            )
            return None
    shape_value = evaluator.evaluate(shape_tree, constants)
    if shape_value is None:
        return None
    try:
        assert isinstance(shape_value.data, tuple)
        if not shape_value.data:
            raise c.Invalid("the input shape is empty", shape_value.span, code="E004")
        shape = tuple(c.positive_int(v) for v in shape_value.data)
    except c.Invalid as error:
        diagnostics.error(
            error.code,
            "input shape: " + error.message,
            error.span,
            help=error.help_in(constants),
        )
        return None
    return ModelInput(str(input_token), shape, dtype, evaluator.span(input_token))


def report_unused(
    diagnostics: Diagnostics,
    model: str,
    inputs: list[ModelInput],
    used: set[str],
    output: str | None,
) -> None:
    """An input no statement reads is an error: every call would have to supply data
    that changes nothing, and most often a branch was left unconnected."""
    for spec in inputs:
        if spec.name in used or spec.name == output:
            continue
        diagnostics.error(
            "E022",
            f"input '{spec.name}' of model '{model}' is never used",
            spec.span,
            help=[
                f"read it in a chain ({spec.name} -> ...) or a merge "
                f"(concat(a, {spec.name})), or remove it from the model's inputs"
            ],
        )
