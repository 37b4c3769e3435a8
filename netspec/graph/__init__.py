"""Pictures of a network: ``netspec graph`` and its library form.

A checked model becomes a :class:`Graph` (boxes with op, name, shape and parameters;
edges; block instances and repeats as clusters), laid out in pure Python
(:mod:`netspec.graph._layout`) and written as SVG (text), PNG or PDF (matplotlib, from
the same layout), Graphviz DOT or Mermaid. Nothing here imports a framework.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from netspec.errors import NetspecError
from netspec.graph._layout import Box, Layout, layout
from netspec.graph._model import Cluster, Graph, GraphEdge, GraphNode, build_graph
from netspec.ir.graph import CheckedModel, Program

Format = Literal["svg", "png", "pdf", "dot", "mmd"]

# File suffixes and the format each one means.
SUFFIXES: dict[str, Format] = {
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mmd",
}

__all__ = [
    "SUFFIXES",
    "Box",
    "Cluster",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "Layout",
    "build_graph",
    "format_of",
    "graph_of",
    "layout",
    "render",
    "write",
]


def format_of(path: str | os.PathLike[str]) -> Format:
    """The format a file name asks for, by its suffix; a NetspecError naming the
    accepted suffixes otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    found = f"'{suffix}'" if suffix else "no suffix"
    raise NetspecError(
        f"cannot tell the picture's format from {os.fspath(path)!r} ({found}): expected a "
        f"file name ending in {', '.join(SUFFIXES)}"
    )


def graph_of(
    spec: str | os.PathLike[str] | Program | CheckedModel, *, model: str | None = None
) -> Graph:
    """The graph of one model of ``spec`` (a path, spec text, a Program or a model).

    From a path or text, block clusters are labelled with the call that made them
    (``layer1 · basic(64)``); from a Program or model, with the instance name alone.
    """
    if isinstance(spec, CheckedModel):
        if model is not None and model != spec.name:
            raise NetspecError(f"no model named {model!r}; the model given is {spec.name!r}")
        return build_graph(spec)
    if isinstance(spec, Program):
        return build_graph(spec.model(model))
    from netspec.frontend import analyze_source

    analysis = analyze_source(spec)
    if analysis.program is None:
        raise NetspecError(
            f"{analysis.file} has errors:\n{analysis.render()}", diagnostics=analysis.diagnostics
        )
    chosen = analysis.program.model(model)
    return build_graph(chosen, analysis.uses.get(chosen.name), analysis.sources)


def render(graph: Graph, format: Format) -> bytes:
    """``graph`` in ``format``: SVG, PNG or PDF drawn from one layout; DOT or Mermaid
    as text for other tools."""
    if format == "dot":
        from netspec.graph._text import to_dot

        return to_dot(graph).encode("utf-8")
    if format == "mmd":
        from netspec.graph._text import to_mermaid

        return to_mermaid(graph).encode("utf-8")
    drawn = layout(graph)
    if format == "svg":
        from netspec.graph._svg import to_svg

        return to_svg(drawn).encode("utf-8")
    if format in ("png", "pdf"):
        from netspec.graph._raster import render as raster

        return raster(drawn, format)
    raise NetspecError(
        f"unknown picture format {format!r}: expected one of svg, png, pdf, dot, mmd"
    )


def write(graph: Graph, path: str | os.PathLike[str], *, format: Format | None = None) -> Format:
    """Write ``graph`` to ``path`` atomically, in ``format`` or the one its suffix
    names; returns the format written."""
    from netspec.weights import atomic_write_bytes

    chosen = format or format_of(path)
    data = render(graph, chosen)
    try:
        atomic_write_bytes(path, data)
    except OSError as error:
        raise NetspecError(f"cannot write {os.fspath(path)}: {error.strerror or error}") from None
    return chosen
