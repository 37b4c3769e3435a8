"""Check an elaborated model: infer every node's type, list its params, apply limits."""

from __future__ import annotations

import math

from netspec.diagnostics import Diagnostics, Fix, Label, Use
from netspec.ir.graph import (
    INDEX_DTYPES,
    CheckedModel,
    CheckedNode,
    DType,
    Model,
    ParamSpec,
    Span,
    StateSpec,
    TensorType,
)
from netspec.ir.init import LiteralValues
from netspec.ir.ops import to_checked
from netspec.ops import OPS
from netspec.ops.shapes import ShapeProblem, fmt

DEFAULT_MAX_PARAMS = 2_000_000_000


def check_model(
    model: Model,
    spans: dict[str, Span],
    diagnostics: Diagnostics,
    *,
    model_span: Span | None = None,
    input_spans: dict[str, Span] | None = None,
    max_params: int = DEFAULT_MAX_PARAMS,
    input_names: dict[str, tuple[str, ...]] | None = None,
    uses: dict[str, tuple[Use, ...]] | None = None,
) -> CheckedModel | None:
    """The checked model, or None when an error was reported.

    ``uses`` gives, for a node made inside a block, the chain of block uses that made
    it: its errors name the use that failed.
    """
    uses = uses or {}
    types: dict[str, TensorType | None] = {
        spec.name: TensorType.model_construct(shape=spec.shape, dtype=spec.dtype)
        for spec in model.inputs
    }
    origin: dict[str, Span | None] = {
        spec.name: (input_spans or {}).get(spec.name) for spec in model.inputs
    }
    checked: list[CheckedNode] = []
    params: list[ParamSpec] = []
    state: list[StateSpec] = []
    failed = False
    for node in model.nodes:
        span = spans.get(node.name)
        origin[node.name] = span
        inputs = [types.get(name) for name in node.inputs]
        if any(t is None for t in inputs):
            # An input already failed: its error is reported; do not cascade.
            types[node.name] = None
            failed = True
            continue
        shapes = [t.shape for t in inputs if t is not None]
        facts = OPS[node.op.kind]
        dtypes = [t.dtype for t in inputs if t is not None]
        wrong = _dtype_problem(node.op.kind, facts.takes, dtypes, shapes)
        if wrong is not None:
            at_fault, message, help = wrong
            labels = (
                [Label.model_construct(span=origin[node.inputs[at_fault]], message="defined here")]
                if origin.get(node.inputs[at_fault]) not in (None, span)
                else []
            )
            diagnostics.error(
                "E016",
                message,
                span,
                label=f"input is {dtypes[at_fault]} {fmt(shapes[at_fault])}",
                labels=labels,  # type: ignore[arg-type]
                help=help,
                uses=uses.get(node.name, ()),
            )
            types[node.name] = None
            failed = True
            continue
        try:
            shaped = facts.shape(node.op, shapes)
        except ShapeProblem as problem:
            labels = [
                Label.model_construct(
                    span=origin[node.inputs[i]], message=f"this is {fmt(shapes[i])}"
                )  # type: ignore[arg-type]
                for i in problem.inputs_at_fault
                if origin.get(node.inputs[i]) is not None and origin[node.inputs[i]] != span
            ]
            notes = list(problem.notes)
            if problem.inputs_at_fault:
                shown = (input_names or {}).get(node.name) or tuple(
                    name.rsplit(".", 1)[-1] for name in node.inputs
                )
                notes += [f"{shown[i]} is {fmt(shapes[i])}" for i in problem.inputs_at_fault]
            diagnostics.error(
                problem.code,
                problem.message,
                span,
                label=f"input is {fmt(shapes[0])}" if len(shapes) == 1 else "",
                labels=labels,
                notes=notes,
                help=problem.help,
                uses=uses.get(node.name, ()),
                fixes=_insertion(problem.insert_before, node.op.kind, span),
            )
            types[node.name] = None
            failed = True
            continue
        # Parameters are read from the op as written: its initialisation and penalties
        # move into the ParamSpecs, and the checked op keeps none of them.
        node_params = facts.params(node.name, node.op, shapes[0])
        node_state = facts.state(node.name, node.op, shapes[0])
        op = to_checked(shaped.op)
        for spec in node_params:
            if not _literal_fits(spec, span, diagnostics, uses.get(node.name, ())):
                failed = True
        params.extend(node_params)
        state.extend(node_state)
        output = TensorType.model_construct(
            shape=shaped.shape, dtype=_output_dtype(facts.takes, dtypes)
        )
        types[node.name] = output
        checked.append(
            CheckedNode.model_construct(
                name=node.name,
                op=op,
                inputs=node.inputs,
                output=output,
                params=tuple(p.name for p in node_params),
                state=tuple(s.name for s in node_state),
                flops=facts.flops(op, shapes, shaped.shape),
            )
        )
    out = types.get(model.output)
    if out is None:
        failed = True
    elif out.dtype in INDEX_DTYPES:
        # Losses, metrics and gradients are of floating-point outputs.
        diagnostics.error(
            "E016",
            f"the model's output is {out.dtype} {fmt(out.shape)}: a model ends in "
            "floating-point values, not indices",
            origin.get(model.output) or model_span,
            help=["embed the indices: ... -> embedding(num, dim) -> ..."],
        )
        failed = True
    total = sum(math.prod(p.shape) for p in params)
    if total > max_params:
        diagnostics.error(
            "E021",
            f"model '{model.name}' has {total:,} parameters, over the limit of {max_params:,}",
            model_span,
            help=[
                "raise the limit with --max-params (or max_params= in netspec.load) if "
                "this is intended"
            ],
        )
        return None
    if failed:
        return None
    return CheckedModel.model_construct(
        name=model.name,
        inputs=model.inputs,
        nodes=tuple(checked),
        output=model.output,
        params=tuple(params),
        state=tuple(state),
    )


def _output_dtype(takes: str, dtypes: list[DType]) -> DType:
    """An op that only moves values keeps its input's dtype; an embedding gives floats
    (float32: a run's --dtype decides the float width); every other op keeps its
    floating-point input's dtype."""
    if takes == "indices":
        return "float32"
    return dtypes[0]


def _dtype_problem(
    kind: str, takes: str, dtypes: list[DType], shapes: list[tuple[int, ...]]
) -> tuple[int, str, list[str]] | None:
    """The input at fault, the message and the help when an op is given a dtype it does
    not take: integers anywhere but embedding and the ops that only move values, or
    floats where embedding wants indices."""
    for i, dtype in enumerate(dtypes):
        found = f"found {dtype} {fmt(shapes[i])}"
        if takes == "indices" and dtype not in INDEX_DTYPES:
            return (
                i,
                f"{kind} takes integer indices, {found}",
                [
                    "declare the model's input as integers, e.g. x: int64[...], and feed "
                    "it class or token indices"
                ],
            )
        if takes == "float" and dtype in INDEX_DTYPES:
            return (
                i,
                f"{kind} takes floating-point input, {found}",
                ["embed the indices first: embedding(num, dim) -> ..."],
            )
    return None


def _literal_fits(
    spec: ParamSpec, span: Span | None, diagnostics: Diagnostics, uses: tuple[Use, ...]
) -> bool:
    init = spec.init
    if not isinstance(init, LiteralValues) or init.shape == spec.shape:
        return True
    help = []
    if init.shape == tuple(reversed(spec.shape)):
        help.append(f"the transpose fits: {spec.attr} layout is [out, in] (one row per unit)")
    elif spec.role == "weight" and len(spec.shape) == 2 and init.shape[:1] == spec.shape[1:]:
        # dense(weight = W) takes its units from W's rows: a W written [in, out] has
        # one row per input instead.
        help.append(
            f"this looks like [in, out] ({init.shape[0]} rows, one per input): dense "
            "weights are [out, in], so write its transpose"
        )
    diagnostics.error(
        "E013",
        f"hand-set {spec.attr} of {spec.name.rsplit('.', 1)[0]} is {fmt(init.shape)}, "
        f"the layer needs {fmt(spec.shape)}",
        span,
        help=help,
        uses=uses,
    )
    return False


def _insertion(text: str, kind: str, span: Span | None) -> list[Fix]:
    """The fix that inserts ``text`` (a stage and its arrow) just before the call of
    ``kind`` at ``span`` (none without both)."""
    if not text or span is None:
        return []
    at = Span.model_construct(
        file=span.file,
        line=span.line,
        column=span.column,
        end_line=span.line,
        end_column=span.column,
    )
    title = f"insert {text.removesuffix(' -> ')} before {kind}"
    return [Fix.model_construct(title=title, span=at, replacement=text)]
