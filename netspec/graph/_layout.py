"""A layered drawing of a graph with clusters, in pure Python.

The steps of a Sugiyama layout, adapted to nested clusters drawn as boxes:

1. layers by longest path from the inputs (IR order is topological);
2. an edge over several layers gets a straight vertical run per cluster it passes
   through ("segments"), inside the deepest cluster of either end that spans the layer,
   so a residual block's shortcut is drawn inside its box;
3. each cluster is laid out on its own, bottom up, and then moved as one rigid item in
   its parent: items keep one left-to-right key (depth-first order from the output, so
   a merge's inputs come in argument order), are packed left to right in every layer
   they span, then pulled towards their neighbours' centres without passing each other
   (a few sweeps of barycentre placement within the packing constraints);
4. layer heights and gaps leave room for the clusters' label bands and padding.

Items of one group never overlap in a layer they share, and a cluster's box holds only
its own items: no box overlaps another by construction (tests check it geometrically).
Long pictures are then cut into columns (:mod:`netspec.graph._wrap`).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

from netspec.graph._model import Graph

# Geometry in pixels (SVG user units; 96 per inch). Text is monospace, so a line's width
# is its length times the font's advance, 0.6 em in DejaVu Sans Mono, Menlo and Consolas
# (a little more is allowed).
TITLE_SIZE = 12.0
DETAIL_SIZE = 10.0
ADVANCE = 0.62
LINE = 1.25  # line height, in font sizes
PAD_X, PAD_Y = 10.0, 6.0
NODE_GAP = 18.0  # between boxes side by side
EDGE_GAP = 14.0  # between a box and an edge's vertical run, or two runs
LAYER_GAP = 18.0  # between layers, before cluster bands
LABEL_SIZE = 10.5
BAND = LABEL_SIZE * LINE + 8.0  # a cluster's label band at its top
CLUSTER_PAD = 10.0
MARGIN = 16.0
MAX_SWEEPS = 400


def text_width(text: str, size: float) -> float:
    return len(text) * size * ADVANCE


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    def overlaps(self, other: Box) -> bool:
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )


@dataclass
class Layout:
    """Where everything is drawn: node boxes, cluster boxes and their labels, edges."""

    graph: Graph
    nodes: dict[str, Box]
    clusters: dict[str, Box]
    labels: dict[str, Box]  # each cluster's label text box
    edges: list[list[tuple[float, float]]]  # a polyline per graph edge, same order
    layers: dict[str, int]
    width: float = 0.0
    height: float = 0.0
    columns: int = 1
    # For the wrap: the layer of each polyline point (None for a routing point), and
    # per edge the layers where it runs straight down outside every cluster.
    point_layers: list[list[int | None]] = field(default_factory=list)
    free_runs: list[set[int]] = field(default_factory=list)


def node_size(title: list[str], detail: str) -> tuple[float, float]:
    width = max(
        max(text_width(line, TITLE_SIZE) for line in title), text_width(detail, DETAIL_SIZE)
    )
    height = 2 * PAD_Y + len(title) * TITLE_SIZE * LINE + DETAIL_SIZE * LINE
    return width + 2 * PAD_X, height


# An item of a group: ("n", node id), ("s", edge index, first layer) or ("c", cluster id).
Item = tuple
# Per item: (other item, other's x, own x, weight, whether the other lies upstream,
# whether the piece has a run at either end).
_Links = dict[Item, list[tuple[Item, float, float, float, bool, bool]]]


class _Layouter:
    def __init__(self, graph: Graph) -> None:
        self.g = graph
        self.size = {n.id: node_size(n.title, n.detail) for n in graph.nodes.values()}
        self.layer = self._layers()
        self.ancestors = {c: self._chain(c) for c in graph.clusters}
        self.range = self._cluster_ranges()
        self.order = self._dfs_order()
        # Each edge as a chain of elements: its source, its segments, its target.
        self.chains: list[list[Item]] = []
        self.seg_range: dict[Item, tuple[int, int]] = {}
        self.group_of: dict[Item, str | None] = {}
        self._segments()
        # Per group: its items, each item's position in the group's content box.
        self.items: dict[str | None, list[Item]] = defaultdict(list)
        for node in graph.nodes.values():
            self.items[node.cluster].append(("n", node.id))
        for item, group in self.group_of.items():
            if item[0] == "s":
                self.items[group].append(item)
        for cluster in graph.clusters.values():
            self.items[cluster.parent].append(("c", cluster.id))
        self.pos: dict[Item, float] = {}
        self.width: dict[Item, float] = {}
        self.content_width: dict[str | None, float] = {}
        self.content_offset: dict[str, float] = {}
        # Per layer: where its gap above ends and where its gap below starts.
        self.band_top: dict[int, float] = {}
        self.band_bottom: dict[int, float] = {}

    # -- structure -----------------------------------------------------------------------

    def _layers(self) -> dict[str, int]:
        layer: dict[str, int] = {}
        incoming: dict[str, list[str]] = defaultdict(list)
        for edge in self.g.edges:
            incoming[edge.target].append(edge.source)
        for node in self.g.nodes:  # inputs first, then IR order, then the output marker
            sources = incoming[node]
            layer[node] = 1 + max((layer[s] for s in sources), default=-1)
        return layer

    def _chain(self, cluster: str | None) -> list[str]:
        """``cluster`` and its ancestors, innermost first."""
        chain = []
        while cluster is not None:
            chain.append(cluster)
            cluster = self.g.clusters[cluster].parent
        return chain

    def _cluster_ranges(self) -> dict[str, tuple[int, int]]:
        ranges: dict[str, tuple[int, int]] = {}
        for node in self.g.nodes.values():
            for cluster in self._chain(node.cluster):
                top, bottom = ranges.get(cluster, (10**9, -1))
                layer = self.layer[node.id]
                ranges[cluster] = (min(top, layer), max(bottom, layer))
        return ranges

    def _dfs_order(self) -> dict[str, int]:
        """Post-order of a depth-first walk from the output over inputs in argument order."""
        incoming: dict[str, list[str]] = defaultdict(list)
        for edge in sorted(self.g.edges, key=lambda e: e.port):
            incoming[edge.target].append(edge.source)
        order: dict[str, int] = {}
        for root in reversed(list(self.g.nodes)):
            stack: list[tuple[str, int]] = [(root, 0)]
            while stack:
                node, index = stack.pop()
                if node in order:
                    continue
                sources = incoming[node]
                if index < len(sources):
                    stack.append((node, index + 1))
                    if sources[index] not in order:
                        stack.append((sources[index], 0))
                else:
                    order[node] = len(order)
        return order

    def _segments(self) -> None:
        for node in self.g.nodes.values():
            self.group_of[("n", node.id)] = node.cluster
        for index, edge in enumerate(self.g.edges):
            start, end = self.layer[edge.source], self.layer[edge.target]
            chain: list[Item] = [("n", edge.source)]
            candidates = self.ancestors_of(edge.source) + self.ancestors_of(edge.target)
            current: Item | None = None
            for layer in range(start + 1, end):
                inside = [c for c in candidates if self.range[c][0] <= layer <= self.range[c][1]]
                group = max(inside, key=lambda c: len(self.ancestors[c])) if inside else None
                if current is None or self.group_of[current] != group:
                    current = ("s", index, layer)
                    self.group_of[current] = group
                    chain.append(current)
                    self.seg_range[current] = (layer, layer)
                else:
                    self.seg_range[current] = (self.seg_range[current][0], layer)
            chain.append(("n", edge.target))
            self.chains.append(chain)

    def ancestors_of(self, node: str) -> list[str]:
        return self._chain(self.g.nodes[node].cluster)

    def span(self, item: Item) -> tuple[int, int]:
        if item[0] == "n":
            return self.layer[item[1]], self.layer[item[1]]
        if item[0] == "s":
            return self.seg_range[item]
        return self.range[item[1]]

    def key(self, item: Item) -> float:
        if item[0] == "n":
            return float(self.order[item[1]])
        if item[0] == "s":
            edge = self.g.edges[item[1]]
            return self.order[edge.source] + 0.5
        return float(min(self.order[n] for n in self.g.members(item[1])))

    # -- horizontal placement, bottom up -------------------------------------------------

    def place(self, group: str | None) -> None:
        items = self.items[group]
        for item in items:
            if item[0] == "c":
                self.place(item[1])
        for item in items:
            if item[0] == "n":
                self.width[item] = self.size[item[1]][0]
            elif item[0] == "s":
                self.width[item] = 0.0
        items.sort(key=self.key)
        rows: dict[int, list[Item]] = defaultdict(list)
        for item in items:
            top, bottom = self.span(item)
            for layer in range(top, bottom + 1):
                rows[layer].append(item)
        # Pack left to right in key order.
        right: dict[int, tuple[float, Item]] = {}
        for item in items:
            top, bottom = self.span(item)
            x = 0.0
            for layer in range(top, bottom + 1):
                if layer in right:
                    edge, left = right[layer]
                    x = max(x, edge + self._gap(left, item))
            self.pos[item] = x
            for layer in range(top, bottom + 1):
                right[layer] = (x + self.width[item], item)
        # Pull towards neighbours, within the packing.
        links = self._links(group)
        neighbours: dict[Item, list[tuple[Item, Item]]] = defaultdict(list)
        for row in rows.values():
            for index, item in enumerate(row):
                before = row[index - 1] if index else None
                after = row[index + 1] if index + 1 < len(row) else None
                neighbours[item].append((before, after))  # type: ignore[arg-type]
        # First each item under what feeds it, in key order (sources first), so that a
        # chain starts straight; then Gauss-Seidel sweeps, alternating in direction,
        # centre each item between all its neighbours until nothing moves.
        for item in items:
            target = self._wanted(item, links, upstream=True)
            if target is not None:
                low, _ = self._bounds(item, neighbours, placed_only=True)
                self.pos[item] = max(target, low)
        for sweep in range(MAX_SWEEPS):
            moved = 0.0
            for item in items if sweep % 2 == 0 else reversed(items):
                target = self._wanted(item, links, upstream=False)
                if target is None:
                    continue
                low, high = self._bounds(item, neighbours, placed_only=False)
                if low <= high:
                    placed = min(max(target, low), high)
                    moved = max(moved, abs(placed - self.pos[item]))
                    self.pos[item] = placed
            if moved < 0.25:
                break
        shift = min((self.pos[i] for i in items), default=0.0)
        for item in items:
            self.pos[item] -= shift
        content = max((self.pos[i] + self.width[i] for i in items), default=0.0)
        self.content_width[group] = content
        if group is not None:
            label = text_width(self.g.clusters[group].label, LABEL_SIZE)
            box = max(content, label) + 2 * CLUSTER_PAD
            self.width[("c", group)] = box
            self.content_offset[group] = (box - content) / 2

    def _wanted(self, item: Item, links: _Links, *, upstream: bool) -> float | None:
        """Where ``item`` would like to be: the weighted mean of its neighbours' x (those
        above it only, with ``upstream``); boxes follow boxes, runs only where nothing
        else links them."""
        mine = [link for link in links.get(item, ()) if link[4] or not upstream]
        pulls = [link for link in mine if item[0] == "s" or not link[5]] or mine
        if not pulls:
            return None
        total = sum(link[3] for link in pulls)
        return sum((self.pos[o] + o_x - own_x) * w for o, o_x, own_x, w, *_ in pulls) / total

    def _bounds(
        self, item: Item, neighbours: dict[Item, list[tuple[Item, Item]]], *, placed_only: bool
    ) -> tuple[float, float]:
        """How far left and right ``item`` may go without touching its neighbours in
        any of its layers (only those to its left with ``placed_only``)."""
        low, high = -1e18, 1e18
        for before, after in neighbours[item]:
            if before is not None:
                low = max(low, self.pos[before] + self.width[before] + self._gap(before, item))
            if after is not None and not placed_only:
                high = min(high, self.pos[after] - self._gap(item, after) - self.width[item])
        return low, high

    def _gap(self, left: Item, right: Item) -> float:
        return EDGE_GAP if "s" in (left[0], right[0]) else NODE_GAP

    def _resolve(self, element: Item, group: str | None) -> tuple[Item, float] | None:
        """The item of ``group`` that holds ``element``, and the element's x (its
        centre, or its run) from that item's left; None when it lies outside."""
        owner = self.group_of[element]
        if group is not None and group not in self._chain(owner):
            return None
        offset = self.size[element[1]][0] / 2 if element[0] == "n" else 0.0
        item = element
        while owner != group:
            assert owner is not None  # group is one of owner's ancestors
            offset += self.pos[item] + self.content_offset[owner]
            item = ("c", owner)
            owner = self.g.clusters[owner].parent
        return item, offset

    def _links(self, group: str | None) -> _Links:
        """Per item of ``group``: each edge piece between it and another item. A run
        hangs below its source; boxes follow boxes (a run only where nothing else links
        them), so that a chain of boxes stays straight and shortcuts run beside it."""
        links: _Links = defaultdict(list)
        for chain in self.chains:
            for a, b in itertools.pairwise(chain):
                ra, rb = self._resolve(a, group), self._resolve(b, group)
                if ra is None or rb is None or ra[0] == rb[0]:
                    continue
                # A run hangs below its source: it weighs what lies above it fully.
                down = 0.001 if a[0] == "s" else (0.2 if b[0] == "s" else 1.0)
                up = 1.0 if b[0] == "s" else (0.2 if a[0] == "s" else 1.0)
                run = "s" in (a[0], b[0])
                links[ra[0]].append((rb[0], rb[1], ra[1], down, False, run))
                links[rb[0]].append((ra[0], ra[1], rb[1], up, True, run))
        return links

    # -- absolute coordinates ----------------------------------------------------------

    def absolute(self) -> Layout:
        self.place(None)
        x_of: dict[Item, float] = {}

        def visit(group: str | None, origin: float) -> None:
            for item in self.items[group]:
                x_of[item] = origin + self.pos[item]
                if item[0] == "c":
                    visit(item[1], x_of[item] + self.content_offset[item[1]])

        visit(None, MARGIN)
        tops, heights = self._rows()
        nodes = {}
        for node in self.g.nodes.values():
            w, h = self.size[node.id]
            layer = self.layer[node.id]
            nodes[node.id] = Box(x_of[("n", node.id)], tops[layer] + (heights[layer] - h) / 2, w, h)
        clusters, labels = {}, {}
        for cluster in self.g.clusters.values():
            top, bottom = self.range[cluster.id]
            box = Box(
                x_of[("c", cluster.id)],
                tops[top] - self._opens(cluster.id) * BAND,
                self.width[("c", cluster.id)],
                0.0,
            )
            box.h = tops[bottom] + heights[bottom] + self._closes(cluster.id) * CLUSTER_PAD - box.y
            clusters[cluster.id] = box
            labels[cluster.id] = Box(
                box.x + CLUSTER_PAD,
                box.y + 4.0,
                text_width(cluster.label, LABEL_SIZE),
                LABEL_SIZE * LINE,
            )
        edges, point_layers, free_runs = [], [], []
        for index, chain in enumerate(self.chains):
            edge = self.g.edges[index]
            source, target = nodes[edge.source], nodes[edge.target]
            ports = self.g.nodes[edge.target].inputs
            port_x = target.x + target.w * (edge.port + 1) / (ports + 1) if ports > 1 else target.cx
            points = [(source.cx, source.bottom)]
            layers: list[int | None] = [self.layer[edge.source]]
            free: set[int] = set()
            for segment in chain[1:-1]:
                first, last = self.seg_range[segment]
                x = x_of[segment]
                if self.group_of[segment] is None:
                    free.update(range(first, last + 1))
                # A run spans its layers' label bands and paddings too, so that it
                # crosses them straight and bends only in the gaps between layers.
                points += [(x, self.band_top[first]), (x, self.band_bottom[last])]
                layers += [first, last]
            points.append((port_x, target.y))
            layers.append(self.layer[edge.target])
            edges.append(points)
            point_layers.append(layers)
            free_runs.append(free)
        layout = Layout(self.g, nodes, clusters, labels, edges, self.layer)
        layout.point_layers = point_layers
        layout.free_runs = free_runs
        return layout

    def _opens(self, cluster: str) -> int:
        """Label bands stacked above ``cluster``'s first layer, its own included."""
        top = self.range[cluster][0]
        inner = [c for c in self.g.clusters[cluster].children if self.range[c][0] == top]
        return 1 + max((self._opens(c) for c in inner), default=0)

    def _closes(self, cluster: str) -> int:
        bottom = self.range[cluster][1]
        inner = [c for c in self.g.clusters[cluster].children if self.range[c][1] == bottom]
        return 1 + max((self._closes(c) for c in inner), default=0)

    def _rows(self) -> tuple[dict[int, float], dict[int, float]]:
        count = max(self.layer.values()) + 1
        heights = {layer: 0.0 for layer in range(count)}
        for node, layer in self.layer.items():
            heights[layer] = max(heights[layer], self.size[node][1])
        opens = defaultdict(int)
        closes = defaultdict(int)
        for cluster in self.g.clusters:
            top, bottom = self.range[cluster]
            opens[top] = max(opens[top], self._opens(cluster))
            closes[bottom] = max(closes[bottom], self._closes(cluster))
        tops, y = {}, MARGIN
        self.band_top, self.band_bottom = {}, {}
        for layer in range(count):
            self.band_top[layer] = y
            y += opens[layer] * BAND
            tops[layer] = y
            y += heights[layer] + closes[layer] * CLUSTER_PAD
            self.band_bottom[layer] = y
            y += LAYER_GAP
        return tops, heights


def layout(graph: Graph) -> Layout:
    """Positions for every box, cluster and edge of ``graph``, the picture's size set."""
    from netspec.graph._wrap import fit_page, place_labels

    result = _Layouter(graph).absolute()
    result = fit_page(result)
    place_labels(result)
    return result


def arrowhead(points: list[tuple[float, float]], length: float = 7.0) -> list[tuple[float, float]]:
    """The triangle at the end of a polyline, its tip on the last point."""
    (x1, y1), (x2, y2) = points[-2], points[-1]
    dx, dy = x2 - x1, y2 - y1
    norm = (dx * dx + dy * dy) ** 0.5 or 1.0
    ux, uy = dx / norm, dy / norm
    bx, by = x2 - ux * length, y2 - uy * length
    half = length * 0.45
    return [(x2, y2), (bx - uy * half, by + ux * half), (bx + uy * half, by - ux * half)]
