"""What the server says about names: op signatures with their defaults, the arguments of
train settings, and the checked nodes a piece of source made (shapes, parameters, FLOPs).

Every list of names is read from the registries (:data:`netspec.ops.SIGNATURES`, the
train section's tables), never retyped here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from netspec.elaborate.train import (
    DATA_SOURCES,
    KEYS,
    LOSSES,
    METRICS,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
)
from netspec.frontend import Analysis
from netspec.ir.graph import CheckedModel, Span
from netspec.ir.init import INIT_SCHEMES
from netspec.lsp.index import within
from netspec.ops import ACTIVATION_KINDS, AFFINE_KINDS, LAYER_NAMES, SIGNATURES
from netspec.ops.signature import REQUIRED
from netspec.ops.text import value_text
from netspec.summary import describe_op

ACTIVATIONS: tuple[str, ...] = tuple(name for name in LAYER_NAMES if name in ACTIVATION_KINDS)
# What each train setting takes, by name: the table of the names it accepts.
SETTING_VALUES: dict[str, tuple[str, ...]] = {
    "data": tuple(DATA_SOURCES),
    "loss": tuple(LOSSES),
    "optimizer": tuple(OPTIMIZERS),
    "schedule": tuple(SCHEDULES),
    "metrics": METRICS,
    "precision": PRECISIONS,
}
TRAIN_KEYS: tuple[str, ...] = KEYS
INITIALIZERS: tuple[str, ...] = tuple(INIT_SCHEMES)
# Fields of a train IR class that a spec does not write (the class's tag).
_TAGS = frozenset({"source", "kind", "scheme"})


def op_arguments(name: str) -> list[tuple[str, str | None]]:
    """An op's arguments in positional order: (name, default as a spec writes it, or
    None when the argument is required). An argument left unset by default (``init``:
    the file's ``defaults`` apply; a pool's ``stride``: its kernel) shows as ``unset``;
    an affine layer's ``activation`` follows its own arguments."""
    signature = SIGNATURES[name]
    arguments = [
        (p.name, _default_text(p.default, first=number == 0))
        for number, p in enumerate(signature.params)
    ]
    if name in AFFINE_KINDS:
        arguments.append(("activation", "unset"))
    if signature.tensors:
        # A merge takes the tensors it combines first, positionally.
        arguments.insert(0, ("tensors...", None))
    return arguments


def _default_text(default: Any, *, first: bool) -> str | None:
    # A first argument without a default is required even where its builder, not the
    # signature, says so (dense's units, with a message of its own).
    if default is REQUIRED or (first and default is None):
        return None
    return "unset" if default is None else value_text(default)


def setting_arguments(name: str) -> list[tuple[str, str | None]]:
    """The arguments of a data source, optimizer or schedule: (name, default or None)."""
    for table in (DATA_SOURCES, LOSSES):
        if name in table:
            return _fields(table[name], {})
    for table2 in (OPTIMIZERS, SCHEDULES):
        if name in table2:
            cls, preset = table2[name]
            return _fields(cls, preset)
    return []


def _fields(cls: type, preset: dict[str, Any]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for field_name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        if field_name in _TAGS:
            continue
        if field_name in preset:
            out.append((field_name, value_text(preset[field_name])))
        elif info.is_required():
            out.append((field_name, None))
        else:
            out.append((field_name, value_text(info.default)))
    return out


def signature_text(name: str, arguments: list[tuple[str, str | None]]) -> str:
    """``conv2d(filters, kernel, stride = 1, ...)``: required names, then name = default."""
    parts = [a if d is None else f"{a} = {d}" for a, d in arguments]
    return f"{name}({', '.join(parts)})"


@dataclass(frozen=True)
class Made:
    """What one use of a piece of source made in a checked model: a node (for an op) or
    a block instance; with its output shape, parameter count and forward FLOPs."""

    model: str
    name: str
    shape: tuple[int, ...]
    params: int
    flops: int
    # For a single node: its op as `netspec summary` writes it; "" for a block instance.
    op: str = ""


def made_by(analysis: Analysis, region: Span, *, per_instance: bool) -> list[Made]:
    """The nodes the source in ``region`` made in the models that checked (others in the
    file may have errors), in model order: each node whose own span
    lies in the region, or that a block use in the region made. With ``per_instance``
    the nodes of one block instance (or of one scope) are summed into one row whose
    shape is its last node's, as for a block call or a named tensor."""
    program = analysis.checked
    if program is None:
        return []
    rows: list[Made] = []
    for model in program.models:
        rows.extend(_made_in(model, analysis, region, per_instance))
    return rows


def _made_in(
    model: CheckedModel, analysis: Analysis, region: Span, per_instance: bool
) -> list[Made]:
    spans = analysis.checked.source_map if analysis.checked else {}
    uses = analysis.uses.get(model.name, {})
    sizes = {p.name: math.prod(p.shape) for p in model.params}
    groups: dict[str, list[Any]] = {}
    for node in model.nodes:
        key = None
        for use in uses.get(node.name, ()):
            if within(use.span, region):
                key = use.instance
                break
        span = spans.get(f"{model.name}/{node.name}")
        if key is None and span is not None and within(span, region):
            key = node.name.rpartition(".")[0] if per_instance else node.name
        if key is None:
            continue
        groups.setdefault(key if per_instance else node.name, []).append(node)
    specs = {p.name: p for p in model.params}
    rows = []
    for key, nodes in groups.items():
        rows.append(
            Made(
                model=model.name,
                name=key or nodes[-1].name,
                shape=tuple(nodes[-1].output.shape),
                params=sum(sizes[p] for n in nodes for p in n.params),
                flops=sum(n.flops for n in nodes),
                op="" if per_instance else describe_op(nodes[0], specs),
            )
        )
    return rows


def input_shape(analysis: Analysis, model: str, name: str) -> tuple[int, ...] | None:
    """The per-sample shape of a model's input, once the model is checked."""
    if analysis.checked is None:
        return None
    for checked in analysis.checked.models:
        if checked.name == model:
            for spec in checked.inputs:
                if spec.name == name:
                    return tuple(spec.shape)
    return None


def shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"
