"""Hover: what the name under the cursor is, as Markdown.

A layer: its op with every argument and default, and per node it makes, the output
shape, parameters and forward FLOPs (the figures of `netspec summary`). A block use: the
block's parameters and, per instance, the same figures summed. A ``let`` constant: its
value. A named tensor or model input: its shape. Figures come from the models that
checked, so an error in one model (or in a train section) leaves the others' figures;
a model with an error has none, and the hover says so.
"""

from __future__ import annotations

from netspec.diagnostics import Diagnostics
from netspec.elaborate.values import CallValue, Evaluator, Symbol, Value
from netspec.ir.graph import Span
from netspec.lsp.documents import Document, Store
from netspec.lsp.facts import (
    Made,
    input_shape,
    made_by,
    op_arguments,
    setting_arguments,
    shape_text,
    signature_text,
)
from netspec.lsp.index import Definition, Occurrence
from netspec.ops import SIGNATURES
from netspec.summary import human
from netspec.syntax.parser import parse

_ROWS = 12
NO_FIGURES = "_shapes, parameters and FLOPs appear once this model checks without errors_"


def hover_text(store: Store, document: Document, line: int, column: int) -> tuple[str, Span] | None:
    """The Markdown for the name at a 1-based position, and the span it describes."""
    index = document.index
    if index is None or not document.index_current:
        return None
    found = index.at(line, column)
    if found is None:
        return None
    if isinstance(found, Definition):
        text = _definition(store, document, found)
    else:
        text = _occurrence(store, document, found)
    return (text, found.span) if text is not None else None


def _occurrence(store: Store, document: Document, found: Occurrence) -> str | None:
    index = document.index
    assert index is not None
    definition = store.resolve(index, found.name, found.scope)
    if found.kind in ("call", "ref") and definition is None and found.name in SIGNATURES:
        text = _code(signature_text(found.name, op_arguments(found.name)))
        return _with_figures(document, text, found.stage or found.span, per_instance=False)
    if found.kind in ("call", "ref") and definition is not None and definition.kind == "block":
        text = _code(_block_signature(definition))
        if definition.span.file != document.path:
            text += f"\n\nfrom `{definition.span.file}`"
        return _with_figures(document, text, found.stage or found.span, per_instance=True)
    if found.kind == "call" and definition is None:
        arguments = setting_arguments(found.name)
        return _code(signature_text(found.name, arguments)) if arguments else None
    if definition is not None:
        return _definition(store, document, definition)
    return None


def _definition(store: Store, document: Document, definition: Definition) -> str | None:
    kind = definition.kind
    if kind == "let":
        return _let(store, document, definition)
    if kind == "block":
        return _code(_block_signature(definition))
    if kind == "param":
        default = f" = {definition.text}" if definition.text else ""
        return _code(f"{definition.name}{default}") + "\n\nblock parameter"
    if kind == "import":
        target = definition.target or "(not found)"
        return _code(f"import {definition.text}") + f"\n\nreads `{target}`"
    if kind == "model":
        return _model(document, definition.name)
    if kind == "tensor":
        return _tensor(document, definition)
    if kind == "train":
        return _code(f"train {definition.name}")
    return None


def _let(store: Store, document: Document, definition: Definition) -> str:
    text = _code(f"let {definition.name} = {definition.text}")
    value = _constant_value(store, definition)
    if value is not None and value != definition.text:
        text += f"\n\nvalue: `{value}`"
    return text


def _constant_value(store: Store, definition: Definition) -> str | None:
    """The value of a ``let``: the lets of its file evaluated in order, up to it."""
    file = definition.span.file
    source = None
    for document in store.documents.values():
        if document.path == file:
            source = document.text
    if source is None:
        try:
            with open(file, encoding="utf-8") as handle:
                source = handle.read()
        except OSError:
            return None
    diagnostics = Diagnostics()
    tree = parse(source, file, diagnostics)
    if tree is None:
        return None
    evaluator = Evaluator(file, diagnostics)
    constants: dict[str, Value] = {}
    for item in tree.children:
        if getattr(item, "data", None) != "let_def":
            continue
        name, expr = item.children
        value = evaluator.evaluate(expr, constants)
        if value is not None:
            constants[str(name)] = value
        if evaluator.span(name) == definition.span:
            return _value_text(value.data) if value is not None else None
    return None


def _value_text(data: object) -> str:
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, tuple):
        return "[" + ", ".join(_value_text(d) for d in data) + "]"
    if isinstance(data, Symbol):
        return data.name
    if isinstance(data, CallValue):
        parts = [_value_text(a.data) for a in data.args]
        parts += [f"{key} = {_value_text(value.data)}" for key, value, _ in data.kwargs]
        return f"{data.name}({', '.join(parts)})"
    if isinstance(data, str):
        return f'"{data}"'
    return f"{data:g}" if isinstance(data, float) else str(data)


def _tensor(document: Document, definition: Definition) -> str:
    index = document.index
    assert index is not None and definition.scope is not None
    scope = index.scopes[definition.scope]
    header = _code(definition.name) + f"\n\ntensor of {scope.kind} `{scope.name}`"
    if definition.full == definition.span or not definition.text:
        # A model input, or a block's `input x`.
        shape = input_shape(document.analysis, scope.name, definition.name)
        if shape is not None:
            return header + f"\n\nshape `{shape_text(shape)}` per sample"
        return header
    rows = made_by(document.analysis, definition.full, per_instance=True)
    if scope.kind == "model" and rows:
        return header + f"\n\nshape `{shape_text(rows[-1].shape)}` per sample"
    shapes = sorted({shape_text(r.shape) for r in rows})
    if shapes:
        return header + "\n\nshape " + ", ".join(f"`{s}`" for s in shapes) + " (per use)"
    return header if document.analysis.ok else header + "\n\n" + NO_FIGURES


def _model(document: Document, name: str) -> str:
    text = _code(f"model {name}")
    program = document.analysis.checked
    for model in program.models if program is not None else ():
        if model.name == name:
            return text + (
                f"\n\noutput `{shape_text(tuple(model.output_type.shape))}` from "
                f"`{model.output}`; {model.parameter_count:,} parameters; "
                f"{model.flops:,} FLOPs per sample ({human(model.flops, 'FLOP')})"
            )
    return text if document.analysis.ok else text + "\n\n" + NO_FIGURES


def _block_signature(definition: Definition) -> str:
    params = [f"{n} = {d}" if d else n for n, d in definition.params]
    return f"block {definition.name}({', '.join(params)})"


def _with_figures(document: Document, text: str, region: Span, *, per_instance: bool) -> str:
    rows = made_by(document.analysis, region, per_instance=per_instance)
    if not rows:
        return text if document.analysis.ok else text + "\n\n" + NO_FIGURES
    return text + "\n\n" + _table(rows)


def _table(rows: list[Made]) -> str:
    several = len({r.model for r in rows}) > 1
    ops = any(r.op for r in rows)
    lines = [
        "| node |" + (" op |" if ops else "") + " output | params | FLOPs |",
        "|---|" + ("---|" if ops else "") + "---|--:|--:|",
    ]
    for row in rows[:_ROWS]:
        name = f"{row.model}/{row.name}" if several else row.name
        op = f" `{row.op}` |" if ops else ""
        lines.append(
            f"| `{name}` |{op} `{shape_text(row.shape)}` | {row.params:,} | {row.flops:,} |"
        )
    blank = "| |" if ops else "|"
    if len(rows) > _ROWS:
        lines.append(f"| ... {len(rows) - _ROWS} more {blank} | | |")
    if len(rows) > 1:
        params = sum(r.params for r in rows)
        flops = sum(r.flops for r in rows)
        lines.append(f"| all {len(rows)} {blank} | {params:,} | {flops:,} |")
    return "\n".join(lines)


def _code(text: str) -> str:
    return f"```netspec\n{text}\n```"
