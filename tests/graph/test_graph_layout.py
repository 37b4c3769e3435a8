"""The drawing's geometry, checked for every model of every example spec: no two boxes
overlap, every text fits its box, clusters nest as block instances do, and long
networks are cut into columns that fit a page."""

from __future__ import annotations

import itertools

import pytest

from netspec.graph import Box, layout
from netspec.graph._layout import DETAIL_SIZE, LABEL_SIZE, TITLE_SIZE, _Layouter, text_width
from netspec.graph._model import OUTPUT_ID, wrap
from netspec.graph._wrap import _bounds, page_scale
from tests.conftest import TWO_INPUTS
from tests.graph.conftest import MODEL_IDS, MODELS, analysis, graph


@pytest.mark.parametrize(("spec", "model"), MODELS, ids=MODEL_IDS)
def test_clusters_are_the_block_instances_and_repeats(spec: str, model: str) -> None:
    """Checked against the elaborator's own record of block uses, not node names."""
    uses = analysis(spec).uses.get(model, {})
    drawn = graph(spec, model)
    instances: dict[str, set[str]] = {}
    for node, chain in uses.items():
        for use in chain:
            instances.setdefault(use.instance, set()).add(node)
    blocks = {c.id for c in drawn.clusters.values() if c.kind == "block"}
    assert blocks == set(instances)
    for instance, members in instances.items():
        assert set(drawn.members(instance)) == members, instance
    # A repeat's box holds exactly the nodes named in one of its copies.
    for cluster in drawn.clusters.values():
        if cluster.kind == "repeat":
            named = {n for n in drawn.nodes if n.startswith(cluster.id + ".")}
            assert set(drawn.members(cluster.id)) == named
            assert named


@pytest.mark.parametrize(("spec", "model"), MODELS, ids=MODEL_IDS)
def test_nothing_overlaps_and_every_text_fits(spec: str, model: str) -> None:
    drawn = graph(spec, model)
    placed = layout(drawn)
    boxes = placed.nodes
    assert set(boxes) == set(drawn.nodes)
    for (a, box_a), (b, box_b) in itertools.combinations(boxes.items(), 2):
        assert not box_a.overlaps(box_b), (a, b)
    for node in drawn.nodes.values():
        box = boxes[node.id]
        widest = max(
            *(text_width(line, TITLE_SIZE) for line in node.title),
            text_width(node.detail, DETAIL_SIZE),
        )
        assert widest <= box.w
        assert box.x >= 0 and box.y >= 0
        assert box.right <= placed.width and box.bottom <= placed.height
        for cluster_id, cluster_box in placed.clusters.items():
            inside = node.id in drawn.members(cluster_id)
            if inside:
                assert cluster_box.x < box.x and box.right < cluster_box.right, (
                    node.id,
                    cluster_id,
                )
                assert cluster_box.y < box.y and box.bottom < cluster_box.bottom
            else:
                assert not cluster_box.overlaps(box), (node.id, cluster_id)
            assert not placed.labels[cluster_id].overlaps(box), (node.id, cluster_id)
    for (a, box_a), (b, box_b) in itertools.combinations(placed.clusters.items(), 2):
        nested = a.startswith(b + ".") or b.startswith(a + ".")
        if nested:
            outer, inner = (box_a, box_b) if b.startswith(a + ".") else (box_b, box_a)
            assert outer.x < inner.x and inner.right < outer.right, (a, b)
            assert outer.y < inner.y and inner.bottom <= outer.bottom, (a, b)
        else:
            assert not box_a.overlaps(box_b), (a, b)
    for cluster_id, label in placed.labels.items():
        box = placed.clusters[cluster_id]
        assert label.w == text_width(drawn.clusters[cluster_id].label, LABEL_SIZE)
        assert box.x < label.x and label.right < box.right and box.y < label.y
        for other_id, other in placed.clusters.items():
            if other_id.startswith(cluster_id + "."):
                assert not label.overlaps(other), (cluster_id, other_id)


@pytest.mark.parametrize(("spec", "model"), MODELS, ids=MODEL_IDS)
def test_every_edge_runs_from_its_source_to_its_target(spec: str, model: str) -> None:
    drawn = graph(spec, model)
    placed = layout(drawn)
    assert len(placed.edges) == len(drawn.edges)
    for edge, points in zip(drawn.edges, placed.edges, strict=True):
        source, target = placed.nodes[edge.source], placed.nodes[edge.target]
        assert points[0] == pytest.approx((source.cx, source.bottom))
        x, y = points[-1]
        assert y == pytest.approx(target.y)
        assert target.x <= x <= target.right
    # A merge's inputs come in at distinct points along its top.
    for node in drawn.nodes.values():
        if node.inputs > 1:
            ends = [
                p[-1] for e, p in zip(drawn.edges, placed.edges, strict=True) if e.target == node.id
            ]
            assert len(ends) == node.inputs == len(set(ends))


def test_a_residual_block_is_a_cluster_holding_its_shortcut_and_merge() -> None:
    drawn = graph("specs/mnist_residual.net", "mnist_residual")
    assert {c.label for c in drawn.clusters.values()} == {
        "residual_1 · residual(width)",
        "residual_2 · residual(width * 2)",
    }
    add = drawn.nodes["residual_1.add_1"]
    assert (add.category, add.inputs) == ("merge", 2)
    sources = {e.source for e in drawn.edges if e.target == add.id}
    assert sources == {"relu_1", "residual_1.h"}  # the shortcut comes from outside the box
    assert drawn.nodes["x"].role == "input"
    assert drawn.nodes[OUTPUT_ID].role == "output"
    assert drawn.nodes[OUTPUT_ID].detail == "[10] from dense_1"


def test_resnet18_fits_a_page_in_columns_cut_between_blocks() -> None:
    drawn = graph("specs/resnet18.net", "resnet18")
    assert [c.label for c in drawn.clusters.values()][:2] == [
        "basic_1 · basic(64)",
        "layer1 · basic(64)",
    ]
    placed = layout(drawn)
    assert placed.columns >= 2
    assert page_scale(placed.width, placed.height) >= 0.4
    # Drawn as one strip, it would be less than half as large on the page.
    strip = _Layouter(drawn).absolute()
    width, height = _bounds(strip)
    assert page_scale(placed.width, placed.height) > 1.5 * page_scale(width, height)


def test_repeats_with_several_copies_show_each_copy() -> None:
    drawn = graph("specs/multilayer_net_extend.net", "multilayer_net_extend")
    kinds = sorted((c.kind, c.label) for c in drawn.clusters.values())
    assert kinds[-1] == ("repeat", "repeat_1 · repeat 6")
    assert [label for kind, label in kinds if kind == "copy"] == [
        f"copy {i} of 6" for i in range(1, 7)
    ]
    # VGG's stages repeat their convolution once: no box for a single copy.
    vgg = graph("specs/vgg11.net", "vgg11")
    assert "stage_1.repeat_1.0" not in vgg.clusters
    assert vgg.clusters["stage_1.repeat_1"].parent == "stage_1"
    assert vgg.clusters["stage_1"].label == "stage_1 · stage(64)"


def test_long_op_texts_wrap_after_commas() -> None:
    text = "conv2d(256, 3, stride = 2, padding = 1, bias = false)"
    lines = wrap(text, 36)
    assert lines == ["conv2d(256, 3, stride = 2,", "    padding = 1, bias = false)"]
    assert wrap("conv2d(16, 5)") == ["conv2d(16, 5)"]
    # Commas inside brackets do not split.
    assert wrap("maxpool([2, 3], stride = [1, 1])", 20) == [
        "maxpool([2, 3],",
        "    stride = [1, 1])",
    ]


def test_each_input_is_marked_at_the_top() -> None:
    drawn = graph(TWO_INPUTS, "two_inputs")
    inputs = [n for n in drawn.nodes.values() if n.role == "input"]
    assert [(n.id, n.title, n.detail) for n in inputs] == [
        ("image", ["input image"], "[1, 6, 6]"),
        ("extra", ["input extra"], "[5]"),
    ]
    placed = layout(drawn)
    top = min(box.y for box in placed.nodes.values())
    assert placed.nodes["image"].y == placed.nodes["extra"].y == top
    # The concat takes the image branch on the left, the vector branch on the right.
    concat = next(n for n in drawn.nodes.values() if n.kind == "concat")
    assert placed.nodes["image"].cx < placed.nodes["extra"].cx
    assert concat.inputs == 2


def _crosses(p: tuple[float, float], q: tuple[float, float], box: Box) -> bool:
    """Whether the segment p-q passes through the inside of ``box`` (Liang-Barsky)."""
    (x1, y1), (x2, y2) = p, q
    low, high = 0.0, 1.0
    dx, dy = x2 - x1, y2 - y1
    inside = (box.x + 0.5, box.right - 0.5, box.y + 0.5, box.bottom - 0.5)
    for step, distance in (
        (-dx, x1 - inside[0]),
        (dx, inside[1] - x1),
        (-dy, y1 - inside[2]),
        (dy, inside[3] - y1),
    ):
        if step == 0:
            if distance < 0:
                return False
            continue
        t = distance / step
        if step < 0:
            low = max(low, t)
        else:
            high = min(high, t)
    return low < high


@pytest.mark.parametrize(("spec", "model"), MODELS, ids=MODEL_IDS)
def test_no_edge_passes_through_a_box(spec: str, model: str) -> None:
    drawn = graph(spec, model)
    placed = layout(drawn)
    for edge, points in zip(drawn.edges, placed.edges, strict=True):
        for node, box in placed.nodes.items():
            if node in (edge.source, edge.target):
                continue
            for p, q in itertools.pairwise(points):
                assert not _crosses(p, q, box), (edge.source, edge.target, node)


def test_long_skip_connections_are_cut_into_lanes() -> None:
    """The U-Net's skips run beside the blocks, so it can be cut between them."""
    placed = layout(graph("specs/unet.net", "unet"))
    assert placed.columns >= 3
    assert page_scale(placed.width, placed.height) > 0.5
    # Each point of every edge lies inside the picture.
    for points in placed.edges:
        assert all(0 <= x <= placed.width and 0 <= y <= placed.height for x, y in points)
