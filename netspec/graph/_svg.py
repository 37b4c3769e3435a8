"""The layout as SVG text: one ``<g>`` per cluster and node (with a ``<title>`` tooltip
holding the full node name), one ``<path>`` per edge."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from netspec.graph._layout import (
    DETAIL_SIZE,
    LABEL_SIZE,
    LINE,
    PAD_Y,
    TITLE_SIZE,
    Layout,
    arrowhead,
)
from netspec.graph._style import (
    CLUSTERS,
    COLORS,
    DETAIL,
    EDGE,
    FONT_FAMILIES,
    LABEL,
    TEXT,
    corner,
)


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def to_svg(layout: Layout) -> str:
    """A standalone SVG document of ``layout``."""
    graph = layout.graph
    fonts = ", ".join(f"'{f}'" if " " in f else f for f in FONT_FAMILIES)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(layout.width)}" '
        f'height="{_n(layout.height)}" viewBox="0 0 {_n(layout.width)} {_n(layout.height)}" '
        f'font-family="{fonts}">',
        f"<title>{escape(graph.name)}: {graph.parameters:,} parameters</title>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
    ]
    # Outer clusters first, so inner ones are drawn over them.
    depth = {c: c.count(".") for c in layout.clusters}
    for cluster_id in sorted(layout.clusters, key=lambda c: depth[c]):
        cluster = graph.clusters[cluster_id]
        box, label = layout.clusters[cluster_id], layout.labels[cluster_id]
        fill, stroke, dash = CLUSTERS[cluster.kind]
        dashes = f' stroke-dasharray="{" ".join(_n(d) for d in dash)}"' if dash else ""
        out.append(
            f'<g class="cluster {cluster.kind}" id={quoteattr("cluster:" + cluster_id)}>'
            f"<title>{escape(cluster_id)}</title>"
            f'<rect x="{_n(box.x)}" y="{_n(box.y)}" width="{_n(box.w)}" height="{_n(box.h)}" '
            f'rx="6" fill="{fill}" stroke="{stroke}"{dashes}/></g>'
        )
    for edge, points in zip(graph.edges, layout.edges, strict=True):
        head = arrowhead(points)
        line = [*points[:-1], ((head[1][0] + head[2][0]) / 2, (head[1][1] + head[2][1]) / 2)]
        path = "M" + " L".join(f"{_n(x)} {_n(y)}" for x, y in line)
        out.append(
            f'<g class="edge" data-source={quoteattr(edge.source)} '
            f"data-target={quoteattr(edge.target)}>"
            f'<path d="{path}" fill="none" stroke="{EDGE}" stroke-width="1.2"/>'
            f'<polygon points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in head)}" '
            f'fill="{EDGE}"/></g>'
        )
    # Labels over the edges: where an edge must cross a label's band, it passes under it.
    for cluster_id, label in layout.labels.items():
        cluster = graph.clusters[cluster_id]
        fill = CLUSTERS[cluster.kind][0]
        out.append(
            f'<g class="label" id={quoteattr("label:" + cluster_id)}>'
            f'<rect x="{_n(label.x - 2)}" y="{_n(label.y)}" width="{_n(label.w + 4)}" '
            f'height="{_n(label.h)}" fill="{fill}"/>'
            f'<text x="{_n(label.x)}" y="{_n(label.y + LABEL_SIZE)}" font-size="{LABEL_SIZE}" '
            f'fill="{LABEL}" font-weight="bold">{escape(cluster.label)}</text></g>'
        )
    for node in graph.nodes.values():
        box = layout.nodes[node.id]
        fill, stroke = COLORS[node.category]
        width = "2" if node.role != "op" or node.inputs > 1 else "1.2"
        out.append(
            f'<g class="node {node.role} {node.category}" id={quoteattr("node:" + node.id)}>'
            f"<title>{escape(node.id)}</title>"
            f'<rect x="{_n(box.x)}" y="{_n(box.y)}" width="{_n(box.w)}" height="{_n(box.h)}" '
            f'rx="{_n(corner(node.role, box.h))}" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width}"/>'
        )
        y = box.y + PAD_Y
        for line in node.title:
            y += TITLE_SIZE * LINE
            out.append(
                f'<text x="{_n(box.cx)}" y="{_n(y - TITLE_SIZE * 0.3)}" text-anchor="middle" '
                f'font-size="{TITLE_SIZE}" font-weight="bold" fill="{TEXT}" '
                f'xml:space="preserve">{escape(line)}</text>'
            )
        y += DETAIL_SIZE * LINE
        out.append(
            f'<text x="{_n(box.cx)}" y="{_n(y - DETAIL_SIZE * 0.3)}" text-anchor="middle" '
            f'font-size="{DETAIL_SIZE}" fill="{DETAIL}">{escape(node.detail)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
