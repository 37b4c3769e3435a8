"""Fitting a long drawing on a page, and placing cluster labels clear of the edges.

A deep network laid out in layers is a tall strip (ResNet-18 is about 60 layers). It is
cut into columns at layer boundaries that no cluster spans and that only edges from one
node cross (between two blocks, say); the columns stand side by side and the edges
across a cut run below the column, up the gutter and into the next column from above.
The number of columns is the one at which the picture, scaled to an A4 page in either
orientation, shows its text largest (never more than full size).
"""

from __future__ import annotations

import itertools

from netspec.graph._layout import BAND, MARGIN, Box, Layout

# An A4 page at 96 pixels per inch, less 1 cm margins.
PAGE = (718.0, 1047.0)
GUTTER = 44.0  # between columns: the edges across a cut run up its middle
BUS = 14.0  # how far below and above a column those edges run
MAX_COLUMNS = 8


def _bounds(layout: Layout) -> tuple[float, float]:
    boxes = [*layout.nodes.values(), *layout.clusters.values()]
    right = max(b.right for b in boxes)
    bottom = max(b.bottom for b in boxes)
    for points in layout.edges:
        right = max(right, *(x for x, _ in points))
    return right + MARGIN, bottom + MARGIN


def page_scale(width: float, height: float) -> float:
    """The scale at which a drawing fits an A4 page, upright or turned (at most 1)."""
    portrait = min(PAGE[0] / width, PAGE[1] / height)
    landscape = min(PAGE[1] / width, PAGE[0] / height)
    return min(1.0, max(portrait, landscape))


class _Bands:
    """Each layer's vertical extent (its boxes and the cluster bands it opens and
    closes) and horizontal extent, for cutting the drawing into columns."""

    def __init__(self, layout: Layout) -> None:
        self.count = max(layout.layers.values()) + 1
        self.top = [1e18] * self.count
        self.bottom = [-1e18] * self.count
        self.left = [1e18] * self.count
        self.right = [-1e18] * self.count
        for node, box in layout.nodes.items():
            self._add(layout.layers[node], box)
        self.cluster_layers: dict[str, tuple[int, int]] = {}
        for cluster, box in layout.clusters.items():
            members = [layout.layers[n] for n in layout.graph.members(cluster)]
            first, last = min(members), max(members)
            self.cluster_layers[cluster] = (first, last)
            self.top[first] = min(self.top[first], box.y)
            self.bottom[last] = max(self.bottom[last], box.bottom)
            for layer in range(first, last + 1):
                self.left[layer] = min(self.left[layer], box.x)
                self.right[layer] = max(self.right[layer], box.right)
        for points, layers in zip(layout.edges, layout.point_layers, strict=True):
            for (x, _), layer in zip(points, layers, strict=True):
                if layer is not None:
                    self.left[layer] = min(self.left[layer], x)
                    self.right[layer] = max(self.right[layer], x)

    def _add(self, layer: int, box: Box) -> None:
        self.top[layer] = min(self.top[layer], box.y)
        self.bottom[layer] = max(self.bottom[layer], box.bottom)
        self.left[layer] = min(self.left[layer], box.x)
        self.right[layer] = max(self.right[layer], box.right)


def _cuts(layout: Layout, bands: _Bands) -> list[int]:
    """Layers after which the drawing may be cut."""
    spanned = set()
    for first, last in bands.cluster_layers.values():
        spanned.update(range(first, last))
    crossing: dict[int, set[str]] = {}
    for edge in layout.graph.edges:
        start, end = layout.layers[edge.source], layout.layers[edge.target]
        for layer in range(start, end):
            crossing.setdefault(layer, set()).add(edge.source)
    cuts = []
    for layer in range(bands.count - 1):
        sources = crossing.get(layer, set())
        if layer in spanned or len(sources) != 1:
            continue
        (source,) = sources
        if layout.layers[source] == layer:
            cuts.append(layer)
    return cuts


def _columns(bands: _Bands, cuts: list[int], count: int) -> list[tuple[int, int]]:
    """``count`` runs of layers of about equal height, cut only at ``cuts``."""
    total = bands.bottom[-1] - bands.top[0]
    chosen: list[int] = []
    for index in range(1, count):
        goal = bands.top[0] + total * index / count
        options = [c for c in cuts if not chosen or c > chosen[-1]]
        if not options:
            break
        chosen.append(min(options, key=lambda c: abs(bands.bottom[c] - goal)))
    chosen = sorted(set(chosen))
    starts = [0, *(c + 1 for c in chosen)]
    ends = [*chosen, bands.count - 1]
    return list(zip(starts, ends, strict=True))


def _size(bands: _Bands, columns: list[tuple[int, int]]) -> tuple[float, float]:
    width = sum(
        max(bands.right[first : last + 1]) - min(bands.left[first : last + 1])
        for first, last in columns
    )
    height = max(bands.bottom[last] - bands.top[first] for first, last in columns)
    extra = 2 * BUS if len(columns) > 1 else 0.0
    return width + GUTTER * (len(columns) - 1) + 2 * MARGIN, height + 2 * MARGIN + extra


def fit_page(layout: Layout) -> Layout:
    """``layout`` cut into the columns that fit an A4 page best, its size set."""
    layout.width, layout.height = _bounds(layout)
    bands = _Bands(layout)
    cuts = _cuts(layout, bands)
    best, best_scale = [(0, bands.count - 1)], page_scale(layout.width, layout.height)
    for count in range(2, MAX_COLUMNS + 1):
        columns = _columns(bands, cuts, count)
        if len(columns) < count:
            break
        scale = page_scale(*_size(bands, columns))
        if scale > best_scale * 1.05:  # another column only for a clearly larger picture
            best, best_scale = columns, scale
    if len(best) > 1:
        _apply(layout, bands, best)
    return layout


def _apply(layout: Layout, bands: _Bands, columns: list[tuple[int, int]]) -> None:
    column_of = {}
    shifts = []
    x = MARGIN
    for index, (first, last) in enumerate(columns):
        left = min(bands.left[first : last + 1])
        right = max(bands.right[first : last + 1])
        shifts.append((x - left, MARGIN + BUS - bands.top[first]))
        x += right - left + GUTTER
        for layer in range(first, last + 1):
            column_of[layer] = index
    bottoms = [
        max(bands.bottom[first : last + 1]) + shifts[i][1]
        for i, (first, last) in enumerate(columns)
    ]
    for node, box in layout.nodes.items():
        dx, dy = shifts[column_of[layout.layers[node]]]
        box.x, box.y = box.x + dx, box.y + dy
    for cluster, box in layout.clusters.items():
        dx, dy = shifts[column_of[bands.cluster_layers[cluster][0]]]
        box.x, box.y = box.x + dx, box.y + dy
    for number, (points, layers) in enumerate(zip(layout.edges, layout.point_layers, strict=True)):
        moved = []
        for (px, py), layer in zip(points, layers, strict=True):
            dx, dy = shifts[column_of[layer]]  # type: ignore[index]
            moved.append((px + dx, py + dy))
        start = column_of[layers[0]]  # type: ignore[index]
        end = column_of[layers[-1]]  # type: ignore[index]
        if start != end:
            gutter = shifts[end][0] + min(bands.left[columns[end][0] : columns[end][1] + 1])
            gutter -= GUTTER / 2
            below, above = bottoms[start] + BUS / 2, MARGIN + BUS / 2
            first_x = moved[1][0]
            moved = [
                moved[0],
                (moved[0][0], below),
                (gutter, below),
                (gutter, above),
                (first_x, above),
                *moved[1:],
            ]
            layers = [layers[0], None, None, None, None, *layers[1:]]
        layout.edges[number] = moved
        layout.point_layers[number] = layers
    layout.columns = len(columns)
    layout.width = x - GUTTER + MARGIN
    layout.height = max(bottoms) + BUS + MARGIN


def place_labels(layout: Layout) -> None:
    """Move each cluster's label along its band to where no edge crosses it, if any."""
    for cluster, box in layout.clusters.items():
        label = layout.labels[cluster]
        label.x, label.y = box.x + 10.0, box.y + 4.0
        band_top, band_bottom = box.y, box.y + BAND
        blocked: list[tuple[float, float]] = []
        for points in layout.edges:
            for (x1, y1), (x2, y2) in itertools.pairwise(points):
                crossing = _clip(x1, y1, x2, y2, band_top, band_bottom)
                if crossing is not None:
                    blocked.append((crossing[0] - 4.0, crossing[1] + 4.0))
        right_aligned = box.right - 10.0 - label.w
        candidates = [label.x, *(end for _, end in sorted(blocked)), right_aligned]
        for x in candidates:
            if x < label.x or x > right_aligned:
                continue
            if all(x + label.w <= a or x >= b for a, b in blocked):
                label.x = x
                break


def _clip(
    x1: float, y1: float, x2: float, y2: float, top: float, bottom: float
) -> tuple[float, float] | None:
    """The x-extent of the line from (x1, y1) to (x2, y2) between heights ``top`` and
    ``bottom``, or None where it does not pass there."""
    if max(y1, y2) < top or min(y1, y2) > bottom:
        return None
    if y1 == y2:
        return min(x1, x2), max(x1, x2)
    xs = []
    for y in (max(min(y1, y2), top), min(max(y1, y2), bottom)):
        xs.append(x1 + (x2 - x1) * (y - y1) / (y2 - y1))
    return min(xs), max(xs)
