"""Histograms of a model's activations as one PNG grid, for `netspec inspect -o DIR`.

One panel per activation node (every node when the model has no activation), in node
order, five to a row, as in the weight-initialisation figures of "Deep Learning from
Scratch" (6.2). A bounded activation's panel spans its range (sigmoid [0, 1], tanh
[-1, 1]), so that panels of different runs compare; the panels of any other op share one
span, that of all their values, so that a layer's values shrinking or growing with depth
shows. A ReLU's exact zeros (its dead values, given in the panel's title) are left out of
its histogram, where they would be one bar hiding the rest. Drawn with matplotlib (the
``train`` extra).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from netspec.commands.inspect import BOUNDS
from netspec.errors import NetspecError
from netspec.ir import CheckedModel
from netspec.ops import ACTIVATION_KINDS

if TYPE_CHECKING:
    from netspec.commands.inspect import Inspection

BINS = 30
COLUMNS = 5
NEEDS_MATPLOTLIB = (
    "the histograms of inspect -o need matplotlib, which is not installed; install the "
    "train extra (pip install 'netspec[train]'), or leave out -o"
)


def shown_nodes(model: CheckedModel) -> list[str]:
    """The nodes drawn: the activations, or every node of a model without one."""
    chosen = [node.name for node in model.nodes if node.op.kind in ACTIVATION_KINDS]
    return chosen or [node.name for node in model.nodes]


def histogram_png(inspection: Inspection, model: CheckedModel) -> bytes:
    """The grid of histograms as PNG bytes."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("matplotlib"):
            raise
        raise NetspecError(NEEDS_MATPLOTLIB) from None
    names = shown_nodes(model)
    kinds = {node.name: node.op.kind for node in model.nodes}
    stats = {node.name: node for node in inspection.nodes}
    spans: dict[str, tuple[float, float]] = dict(BOUNDS)
    for kind in {kinds[name] for name in names} - set(BOUNDS):
        low = min(stats[name].min for name in names if kinds[name] == kind)
        high = max(stats[name].max for name in names if kinds[name] == kind)
        spans[kind] = (low, high) if high > low else (low - 0.5, high + 0.5)
    columns = min(COLUMNS, len(names))
    rows = -(-len(names) // columns)
    figure = Figure(figsize=(2.6 * columns, 2.3 * rows + 0.5), dpi=80)
    FigureCanvasAgg(figure)
    figure.suptitle(f"{inspection.model} on {inspection.backend}: {inspection.batch}", fontsize=9)
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        values = np.asarray(inspection.values[name], dtype=np.float64).ravel()
        node = stats[name]
        title = f"{name}\nmean {node.mean:.3g}, std {node.std:.3g}"
        if node.dead is not None:
            values = values[values != 0]
            title += f"\n{node.dead:.0%} zero (not drawn)"
        if node.saturated is not None:
            title += f"\n{node.saturated:.0%} saturated"
        axes.hist(values, bins=BINS, range=spans[kinds[name]], color="#4c72b0")
        axes.set_title(title, fontsize=8)
        axes.locator_params(axis="x", nbins=4)
        axes.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        axes.tick_params(labelsize=6)
        axes.set_yticks([])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
