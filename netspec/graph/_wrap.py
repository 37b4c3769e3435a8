"""Fitting a long drawing on a page, and placing cluster labels clear of the edges.

A deep network laid out in layers is a tall strip (ResNet-18 is about 60 layers). It is
cut into columns at layer boundaries that no cluster spans, where every edge across
either leaves a node just above (between two blocks, say) or runs down outside the
clusters (a U-Net's skip connections); the columns stand side by side and the edges
across a cut run below the column, up the gutter, each in its own lane, and into the
next column from above, where a long one goes on down at its own place.
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
LANE = 6.0  # between the parallel edges across one cut
MAX_LANES = 6
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


def _cuts(layout: Layout, bands: _Bands) -> dict[int, list[tuple[float, int]]]:
    """Layers after which the drawing may be cut, each with its lanes: the x of every
    line that crosses there (an edge leaving a node of that layer, or a long edge
    running down outside the clusters) and the edge numbers on it.

    No cluster may span a cut, and every edge across it must leave from the layer
    just above or run outside the clusters there (a U-Net's long skip connections)."""
    spanned = set()
    for first, last in bands.cluster_layers.values():
        spanned.update(range(first, last))
    crossing: dict[int, list[int]] = {}
    for number, edge in enumerate(layout.graph.edges):
        for layer in range(layout.layers[edge.source], layout.layers[edge.target]):
            crossing.setdefault(layer, []).append(number)
    cuts: dict[int, list[tuple[float, int]]] = {}
    for layer in range(bands.count - 1):
        if layer in spanned:
            continue
        lanes: dict[tuple[str, object], list[tuple[float, int]]] = {}
        for number in crossing.get(layer, []):
            edge = layout.graph.edges[number]
            if layout.layers[edge.source] == layer:
                x = layout.edges[number][0][0]
                lanes.setdefault(("node", edge.source), []).append((x, number))
            elif {layer, layer + 1} <= layout.free_runs[number]:
                x = _run_x(layout, number, layer)
                lanes.setdefault(("run", number), []).append((x, number))
            else:
                break
        else:
            if 1 <= len(lanes) <= MAX_LANES:
                cuts[layer] = sorted(item for group in lanes.values() for item in group)
    return cuts


def _run_x(layout: Layout, number: int, layer: int) -> float:
    """The x of edge ``number``'s run through ``layer``."""
    points, layers = layout.edges[number], layout.point_layers[number]
    for (x, _), first, last in zip(points[1::2], layers[1:-1:2], layers[2:-1:2], strict=False):
        if first is not None and last is not None and first <= layer <= last:
            return x
    raise ValueError(f"edge {number} has no run through layer {layer}")


def _lane_count(lanes: list[tuple[float, int]]) -> int:
    return len({x for x, _ in lanes})


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


def _gutter(lanes: int) -> float:
    return GUTTER + (lanes - 1) * LANE


def _size(
    bands: _Bands, columns: list[tuple[int, int]], cuts: dict[int, list[tuple[float, int]]]
) -> tuple[float, float]:
    width = sum(
        max(bands.right[first : last + 1]) - min(bands.left[first : last + 1])
        for first, last in columns
    )
    width += sum(_gutter(_lane_count(cuts[last])) for _, last in columns[:-1])
    height = max(bands.bottom[last] - bands.top[first] for first, last in columns)
    lanes = max((_lane_count(cuts[last]) for _, last in columns[:-1]), default=0)
    extra = 2 * (BUS + (lanes - 1) * LANE) if lanes else 0.0
    return width + 2 * MARGIN, height + 2 * MARGIN + extra


def fit_page(layout: Layout) -> Layout:
    """``layout`` cut into the columns that fit an A4 page best, its size set."""
    layout.width, layout.height = _bounds(layout)
    bands = _Bands(layout)
    cuts = _cuts(layout, bands)
    best, best_scale = [(0, bands.count - 1)], page_scale(layout.width, layout.height)
    for count in range(2, MAX_COLUMNS + 1):
        columns = _columns(bands, sorted(cuts), count)
        if len(columns) < count:
            break
        scale = page_scale(*_size(bands, columns, cuts))
        if scale > best_scale * 1.05:  # another column only for a clearly larger picture
            best, best_scale = columns, scale
    if len(best) > 1:
        _apply(layout, bands, best, cuts)
    return layout


def _apply(
    layout: Layout,
    bands: _Bands,
    columns: list[tuple[int, int]],
    cuts: dict[int, list[tuple[float, int]]],
) -> None:
    lanes = [sorted({x for x, _ in cuts[last]}) for _, last in columns[:-1]]
    room = BUS + (max(len(lane) for lane in lanes) - 1) * LANE  # above and below columns
    column_of: dict[int, int] = {}
    shifts: list[tuple[float, float]] = []
    gutters: list[float] = []  # the left edge of each gutter
    x = MARGIN
    for index, (first, last) in enumerate(columns):
        left = min(bands.left[first : last + 1])
        right = max(bands.right[first : last + 1])
        shifts.append((x - left, MARGIN + room - bands.top[first]))
        x += right - left
        if index < len(lanes):
            gutters.append(x)
            x += _gutter(len(lanes[index]))
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
        moved: list[tuple[float, float]] = []
        routed: list[int | None] = []
        previous: tuple[float, int] | None = None  # the last point's x before moving, column
        for (px, py), layer in zip(points, layers, strict=True):
            column = column_of[layer]  # type: ignore[index]
            if previous is not None:
                x_before, start = previous
                for cut in range(start, column):
                    # Down below column `cut`, up its gutter, over the next column.
                    count = len(lanes[cut])
                    k = lanes[cut].index(x_before)
                    below = bottoms[cut] + BUS / 2 + (count - 1 - k) * LANE
                    side = gutters[cut] + GUTTER / 2 + (count - 1 - k) * LANE
                    above = MARGIN + room - BUS / 2 - k * LANE
                    onward = (px if cut + 1 == column else x_before) + shifts[cut + 1][0]
                    moved += [
                        (x_before + shifts[cut][0], below),
                        (side, below),
                        (side, above),
                        (onward, above),
                    ]
                    routed += [None] * 4
            dx, dy = shifts[column]
            moved.append((px + dx, py + dy))
            routed.append(layer)
            previous = (px, column)
        layout.edges[number] = moved
        layout.point_layers[number] = routed
    layout.columns = len(columns)
    layout.width = x + MARGIN
    layout.height = max(bottoms) + room + MARGIN


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
