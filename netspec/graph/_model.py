"""The picture's content, before any geometry: boxes with their text, edges, clusters.

Built from a checked model alone (framework-free). Block instances and repeat copies
are read from node names, which the elaborator makes ``INSTANCE.`` and
``repeat_N.I.`` scopes (docs/language.md, "Node names"); the block uses the elaborator
records, where given, add each block's name and the call that made it to the labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from netspec.diagnostics import Use
from netspec.ir.graph import CheckedModel, Input
from netspec.ops import ACTIVATION_KINDS, MERGE_KINDS, OPS
from netspec.ops.text import describe

# The id of the output marker: never a node name (names are identifiers and dots).
OUTPUT_ID = "<output>"
# Op texts longer than this wrap at their commas.
WRAP = 36

NodeRole = Literal["input", "op", "output"]
Category = Literal["input", "output", "conv", "dense", "norm", "act", "pool", "merge", "other"]
ClusterKind = Literal["block", "repeat", "copy"]


@dataclass
class GraphNode:
    """One box: an input, a node of the model, or the output marker."""

    id: str
    role: NodeRole
    title: list[str]  # the op as a spec writes it, wrapped
    detail: str  # local name, output shape, parameter count
    category: Category
    cluster: str | None  # the innermost cluster's id, None at the top
    kind: str = ""
    params: int = 0
    shape: tuple[int, ...] = ()
    inputs: int = 0  # how many edges come in (a merge has several)


@dataclass
class GraphEdge:
    source: str
    target: str
    port: int  # the target's input position


@dataclass
class Cluster:
    """A block instance, a repeat, or one copy of a repeat's body."""

    id: str  # the scope as node names write it: "layer1", "stage_1.repeat_1"
    kind: ClusterKind
    label: str
    parent: str | None
    children: list[str] = field(default_factory=list)


@dataclass
class Graph:
    name: str
    nodes: dict[str, GraphNode]
    edges: list[GraphEdge]
    clusters: dict[str, Cluster]
    parameters: int = 0

    def members(self, cluster: str) -> list[str]:
        """Every node inside ``cluster``, nested clusters included."""
        prefix = cluster + "."
        return [
            n.id
            for n in self.nodes.values()
            if n.cluster is not None and (n.cluster == cluster or n.cluster.startswith(prefix))
        ]


def model_inputs(model: CheckedModel) -> tuple[Input, ...]:
    """The model's inputs, in the order its header names them."""
    return model.inputs


def shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def wrap(text: str, width: int = WRAP) -> list[str]:
    """``text`` cut after commas into lines of at most ``width`` characters where it can."""
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    current = ""
    for piece in _pieces(text):
        if current and len(current) + len(piece) > width:
            lines.append(current.rstrip())
            current = "    " + piece.lstrip()
        else:
            current += piece
    lines.append(current.rstrip())
    return lines


def _pieces(text: str) -> list[str]:
    """``text`` split after each top-level ", " (not inside brackets)."""
    pieces, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 1:
            pieces.append(text[start : index + 1])
            start = index + 1
    pieces.append(text[start:])
    return pieces


def category(kind: str) -> Category:
    if kind in MERGE_KINDS:
        return "merge"
    if kind in ACTIVATION_KINDS:
        return "act"
    if "conv" in kind:
        return "conv"
    if "pool" in kind:
        return "pool"
    if "norm" in kind or kind == "standardize":
        return "norm"
    if kind in ("dense", "multi_head_attention", "positional_embedding", "embedding"):
        return "dense"
    return "other"


def _scopes(name: str) -> list[tuple[str, ClusterKind]]:
    """The clusters a node name sits in, outermost first: ``stage_1.repeat_1.0.conv2d_1``
    gives stage_1 (block), stage_1.repeat_1 (repeat), stage_1.repeat_1.0 (copy)."""
    parts = name.split(".")[:-1]
    scopes: list[tuple[str, ClusterKind]] = []
    for index, part in enumerate(parts):
        path = ".".join(parts[: index + 1])
        if part.isdigit():
            scopes.append((path, "copy"))
        elif index + 1 < len(parts) and parts[index + 1].isdigit():
            scopes.append((path, "repeat"))
        else:
            scopes.append((path, "block"))
    return scopes


def build_graph(
    model: CheckedModel,
    uses: Mapping[str, tuple[Use, ...]] | None = None,
    sources: Mapping[str, str] | None = None,
) -> Graph:
    """The picture's content for ``model``.

    ``uses`` (the elaborator's block uses per node) and ``sources`` (file texts by span
    file name) let a block's label show its call, ``layer1 · basic(64)``; without them
    a block is labelled by its instance name.
    """
    sizes = {p.name: math.prod(p.shape) for p in model.params}
    nodes: dict[str, GraphNode] = {}
    edges: list[GraphEdge] = []
    clusters: dict[str, Cluster] = {}
    calls = _block_calls(uses or {}, sources or {})
    copies: dict[str, int] = {}
    for node in model.nodes:
        for path, kind in _scopes(node.name):
            if kind == "copy":
                repeat, _, index = path.rpartition(".")
                copies[repeat] = max(copies.get(repeat, 0), int(index) + 1)
    for item in model_inputs(model):
        dtype = "" if item.dtype == "float32" else f" {item.dtype}"
        nodes[item.name] = GraphNode(
            id=item.name,
            role="input",
            title=[f"input {item.name}"],
            detail=shape_text(item.shape) + dtype,
            category="input",
            cluster=None,
            kind="input",
            shape=item.shape,
        )
    for node in model.nodes:
        innermost = None
        for path, kind in _scopes(node.name):
            # A repeat of one copy is drawn as the repeat alone: a box in a box says nothing.
            if kind == "copy" and copies[path.rpartition(".")[0]] < 2:
                continue
            if path not in clusters:
                clusters[path] = Cluster(
                    id=path,
                    kind=kind,
                    label=_cluster_label(path, kind, calls, copies),
                    parent=innermost,
                )
                if innermost is not None:
                    clusters[innermost].children.append(path)
            innermost = path
        count = sum(sizes[name] for name in node.params)
        local = node.name.rpartition(".")[2]
        detail = f"{local} · {shape_text(node.output.shape)}"
        if count:
            detail += f" · {count:,} params"
        nodes[node.name] = GraphNode(
            id=node.name,
            role="op",
            title=wrap(describe(node.op, OPS[node.op.kind].summary)),
            detail=detail,
            category=category(node.op.kind),
            cluster=innermost,
            kind=node.op.kind,
            params=count,
            shape=node.output.shape,
            inputs=len(node.inputs),
        )
        for port, source in enumerate(node.inputs):
            edges.append(GraphEdge(source=source, target=node.name, port=port))
    out = model.output_type
    nodes[OUTPUT_ID] = GraphNode(
        id=OUTPUT_ID,
        role="output",
        title=["output"],
        detail=f"{shape_text(out.shape)} from {model.output}",
        category="output",
        cluster=None,
        kind="output",
        shape=out.shape,
        inputs=1,
    )
    edges.append(GraphEdge(source=model.output, target=OUTPUT_ID, port=0))
    return Graph(
        name=model.name,
        nodes=nodes,
        edges=edges,
        clusters=clusters,
        parameters=model.parameter_count,
    )


def _block_calls(uses: Mapping[str, tuple[Use, ...]], sources: Mapping[str, str]) -> dict[str, str]:
    """Each block instance's call as written (``basic(64)``), or its block's name."""
    calls: dict[str, str] = {}
    for chain in uses.values():
        for use in chain:
            if use.instance in calls:
                continue
            text = _span_text(sources.get(use.span.file), use.span)
            calls[use.instance] = " ".join(text.split()) if text else use.block
    return calls


def _span_text(source: str | None, span: object) -> str | None:
    if source is None:
        return None
    lines = source.splitlines()
    line, column = span.line, span.column  # type: ignore[attr-defined]
    end_line, end_column = span.end_line, span.end_column  # type: ignore[attr-defined]
    if not 1 <= line <= end_line <= len(lines):
        return None
    if line == end_line:
        return lines[line - 1][column - 1 : end_column - 1]
    body = [lines[line - 1][column - 1 :], *lines[line : end_line - 1]]
    return "\n".join([*body, lines[end_line - 1][: end_column - 1]])


def _cluster_label(
    path: str, kind: ClusterKind, calls: Mapping[str, str], copies: Mapping[str, int]
) -> str:
    local = path.rpartition(".")[2]
    if kind == "repeat":
        count = copies.get(path, 1)
        return f"{local} · repeat {count}"
    if kind == "copy":
        return f"copy {int(local) + 1} of {copies[path.rpartition('.')[0]]}"
    call = calls.get(path)
    return f"{local} · {call}" if call else local
