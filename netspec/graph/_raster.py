"""The layout drawn with matplotlib, as PNG or PDF: the same boxes, texts, colours and
edges as the SVG, from the same coordinates (pixels at 96 per inch; y grows down).

matplotlib comes with the ``train`` extra (``pip install 'netspec[train]'``, as in the
README's set-up); it is imported here only, when a PNG or PDF is asked for. Its own
DejaVu Sans Mono is the font, so text is as wide as the layout measured it.
"""

from __future__ import annotations

import io
from typing import Literal

from netspec.errors import NetspecError
from netspec.graph._layout import (
    DETAIL_SIZE,
    LABEL_SIZE,
    LINE,
    PAD_Y,
    TITLE_SIZE,
    Layout,
    arrowhead,
)
from netspec.graph._style import CLUSTERS, COLORS, DETAIL, EDGE, LABEL, TEXT, corner
from netspec.graph._wrap import page_scale

PX = 72.0 / 96.0  # points per pixel
PNG_DPI = 144  # 1.5 pixels per layout pixel: crisp text at any zoom a screen needs

NEEDS_MATPLOTLIB = (
    "{format} output needs matplotlib, which is not installed; install the train extra "
    "(pip install 'netspec[train]') or matplotlib, or write .svg, .dot or .mmd, which "
    "need nothing"
)


def render(layout: Layout, format: Literal["png", "pdf"]) -> bytes:
    """``layout`` as PNG or PDF bytes."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.backends.backend_pdf import FigureCanvasPdf
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyBboxPatch, Polygon
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("matplotlib"):
            raise
        raise NetspecError(NEEDS_MATPLOTLIB.format(format=format.upper())) from None
    graph = layout.graph
    # A PDF is a page to print: a drawing larger than A4 is scaled down to fit one.
    scale = page_scale(layout.width, layout.height) if format == "pdf" else 1.0
    pt = PX * scale  # points per layout pixel
    figure = Figure(
        figsize=(layout.width * scale / 96.0, layout.height * scale / 96.0), dpi=PNG_DPI
    )
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_xlim(0, layout.width)
    axes.set_ylim(layout.height, 0)
    axes.set_axis_off()
    font = {"family": "DejaVu Sans Mono"}

    def box_patch(box, radius, **style):  # type: ignore[no-untyped-def]
        return FancyBboxPatch(
            (box.x + radius, box.y + radius),
            max(box.w - 2 * radius, 0.01),
            max(box.h - 2 * radius, 0.01),
            boxstyle=f"round,pad={radius}",
            **style,
        )

    depth = {c: c.count(".") for c in layout.clusters}
    for cluster_id in sorted(layout.clusters, key=lambda c: depth[c]):
        cluster = graph.clusters[cluster_id]
        box, label = layout.clusters[cluster_id], layout.labels[cluster_id]
        fill, stroke, dash = CLUSTERS[cluster.kind]
        patch = box_patch(box, 6.0, facecolor=fill, edgecolor=stroke, linewidth=1.0 * pt, zorder=1)
        if dash:
            patch.set_linestyle((0, dash))
        axes.add_patch(patch)
        axes.text(
            label.x,
            label.y + LABEL_SIZE,
            cluster.label,
            fontsize=LABEL_SIZE * pt,
            color=LABEL,
            fontweight="bold",
            zorder=5,
            bbox={"facecolor": fill, "edgecolor": "none", "pad": 0.5},
            **font,
        )
    for points in layout.edges:
        head = arrowhead(points)
        base = ((head[1][0] + head[2][0]) / 2, (head[1][1] + head[2][1]) / 2)
        line = [*points[:-1], base]
        axes.plot(
            [x for x, _ in line],
            [y for _, y in line],
            color=EDGE,
            linewidth=1.2 * pt,
            solid_joinstyle="miter",
            zorder=2,
        )
        axes.add_patch(Polygon(head, closed=True, facecolor=EDGE, edgecolor="none", zorder=2))
    for node in graph.nodes.values():
        box = layout.nodes[node.id]
        fill, stroke = COLORS[node.category]
        width = 2.0 if node.role != "op" or node.inputs > 1 else 1.2
        radius = min(corner(node.role, box.h), box.h / 2 - 0.5)
        axes.add_patch(
            box_patch(box, radius, facecolor=fill, edgecolor=stroke, linewidth=width * pt, zorder=3)
        )
        y = box.y + PAD_Y
        for line in node.title:
            y += TITLE_SIZE * LINE
            axes.text(
                box.cx,
                y - TITLE_SIZE * 0.3,
                line,
                fontsize=TITLE_SIZE * pt,
                color=TEXT,
                fontweight="bold",
                ha="center",
                va="baseline",
                zorder=4,
                **font,
            )
        y += DETAIL_SIZE * LINE
        axes.text(
            box.cx,
            y - DETAIL_SIZE * 0.3,
            node.detail,
            fontsize=DETAIL_SIZE * pt,
            color=DETAIL,
            ha="center",
            va="baseline",
            zorder=4,
            **font,
        )
    buffer = io.BytesIO()
    if format == "png":
        FigureCanvasAgg(figure).print_png(buffer)
    else:
        FigureCanvasPdf(figure).print_pdf(buffer, metadata={"Title": graph.name})
    return buffer.getvalue()
