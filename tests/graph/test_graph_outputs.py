"""Every model of every example spec as SVG (valid XML holding every node, edge and
cluster), PNG and PDF (matplotlib), DOT (read back by pydot) and Mermaid."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ElementTree

import pytest

from netspec.graph import Graph, format_of, graph_of, layout, render
from netspec.graph._model import OUTPUT_ID
from netspec.graph._raster import PNG_DPI
from netspec.graph._wrap import PAGE
from tests.conftest import ROOT
from tests.graph.conftest import MODEL_IDS, MODELS, graph

SVG = "{http://www.w3.org/2000/svg}"


def _cluster_of(svg_group: ElementTree.Element) -> str:
    return svg_group.attrib["id"].removeprefix("cluster:")


@pytest.mark.parametrize(("spec", "model"), MODELS, ids=MODEL_IDS)
def test_svg_is_xml_holding_every_node_edge_and_cluster(spec: str, model: str) -> None:
    drawn = graph(spec, model)
    root = ElementTree.fromstring(render(drawn, "svg"))
    assert root.tag == f"{SVG}svg"
    groups = root.findall(f"{SVG}g")
    nodes = {g.attrib["id"].removeprefix("node:"): g for g in groups if "node" in g.attrib["class"]}
    assert set(nodes) == set(drawn.nodes)
    for node in drawn.nodes.values():
        texts = [t.text for t in nodes[node.id].iter(f"{SVG}text")]
        assert texts == [*node.title, node.detail]
        assert nodes[node.id].find(f"{SVG}title").text == node.id  # type: ignore[union-attr]
    edges = [
        (g.attrib["data-source"], g.attrib["data-target"])
        for g in groups
        if "edge" in g.attrib["class"]
    ]
    assert edges == [(e.source, e.target) for e in drawn.edges]
    clusters = {_cluster_of(g) for g in groups if "cluster" in g.attrib["class"].split()}
    assert clusters == set(drawn.clusters)
    placed = layout(drawn)
    assert float(root.attrib["width"]) == pytest.approx(placed.width, abs=0.1)


@pytest.mark.parametrize(("spec", "model"), MODELS, ids=MODEL_IDS)
def test_png_is_drawn_at_the_layout_size(spec: str, model: str) -> None:
    pytest.importorskip("matplotlib", reason="PNG output needs matplotlib (the train extra)")
    from PIL import Image

    drawn = graph(spec, model)
    image = Image.open(io.BytesIO(render(drawn, "png")))
    placed = layout(drawn)
    assert image.format == "PNG"
    scale = PNG_DPI / 96
    assert image.size == pytest.approx((placed.width * scale, placed.height * scale), abs=2)
    # Not blank: the boxes' colours are there.
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or ()) > 20


def test_pdf_of_resnet18_is_one_page_that_fits_a4() -> None:
    pytest.importorskip("matplotlib", reason="PDF output needs matplotlib (the train extra)")
    data = render(graph("specs/resnet18.net", "resnet18"), "pdf")
    assert data.startswith(b"%PDF")
    assert data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") == 1
    (box,) = re.findall(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    width, height = (float(v) * 96 / 72 for v in box)
    assert sorted((width, height)) <= [PAGE[0] + 1, PAGE[1] + 1]
    assert min(width / PAGE[1], height / PAGE[0], width / PAGE[0], height / PAGE[1]) > 0.5


# pydot's parser still calls pyparsing's old names, which newer pyparsing warns about.
@pytest.mark.filterwarnings("ignore:'[a-zA-Z]+' deprecated")
@pytest.mark.parametrize(("spec", "model"), MODELS, ids=MODEL_IDS)
def test_dot_reads_back_with_pydot(spec: str, model: str) -> None:
    pydot = pytest.importorskip("pydot", reason="pydot (the dev extra) reads DOT back")
    drawn = graph(spec, model)
    (parsed,) = pydot.graph_from_dot_data(render(drawn, "dot").decode())
    assert parsed.get_name().strip('"') == drawn.name

    def walk(container: object, cluster: str | None, found: dict[str, str | None]) -> None:
        for node in container.get_nodes():  # type: ignore[attr-defined]
            name = node.get_name().strip('"')
            if name not in ("node", "edge", "graph"):
                found[name] = cluster
        for sub in container.get_subgraphs():  # type: ignore[attr-defined]
            label = sub.get("label").strip('"')
            (match,) = [
                c.id for c in drawn.clusters.values() if c.label == label and c.parent == cluster
            ] or [None]
            assert match is not None, label
            walk(sub, match, found)

    found: dict[str, str | None] = {}
    walk(parsed, None, found)
    assert found == {n.id: n.cluster for n in drawn.nodes.values()}
    edges = [
        (e.get_source().strip('"'), e.get_destination().strip('"')) for e in parsed.get_edges()
    ]
    assert edges == [(e.source, e.target) for e in drawn.edges]
    labels = {n.get_name().strip('"'): n.get("label") for n in parsed.get_node_list()}
    for subgraph in parsed.get_subgraph_list():
        labels.update({n.get_name().strip('"'): n.get("label") for n in _all_nodes(subgraph)})
    assert labels[OUTPUT_ID] == f'"output\\n{drawn.nodes[OUTPUT_ID].detail}"'


def _all_nodes(container: object) -> list:  # type: ignore[type-arg]
    nodes = list(container.get_nodes())  # type: ignore[attr-defined]
    for sub in container.get_subgraphs():  # type: ignore[attr-defined]
        nodes += _all_nodes(sub)
    return nodes


@pytest.mark.parametrize(("spec", "model"), MODELS, ids=MODEL_IDS)
def test_mermaid_holds_every_node_edge_and_subgraph(spec: str, model: str) -> None:
    drawn = graph(spec, model)
    text = render(drawn, "mmd").decode()
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "flowchart TB"
    assert sum(line.startswith("subgraph ") for line in lines) == len(drawn.clusters)
    assert lines.count("end") == len(drawn.clusters)
    ids = [re.match(r"(n\d+)[\[(]", line) for line in lines]
    assert len([m for m in ids if m]) == len(drawn.nodes)
    assert sum(" --> " in line for line in lines) == len(drawn.edges)
    assert '"' not in "".join(re.findall(r'\["(.*)"\]', text)).replace("#quot;", "")


def _tiny() -> Graph:
    return graph_of("netspec 1\nmodel m(x: [4]) { dense(3) -> relu }")


def test_text_formats_escape_what_their_syntax_reserves() -> None:
    drawn = _tiny()
    drawn.clusters.clear()
    drawn.nodes["dense_1"].title = ['say "hi" <b> & \\']
    dot = render(drawn, "dot").decode()
    assert 'label="say \\"hi\\" <b> & \\\\\\n' in dot
    mermaid = render(drawn, "mmd").decode()
    assert "say #quot;hi#quot; #lt;b#gt; #amp; \\" in mermaid
    svg = render(drawn, "svg").decode()
    assert 'say "hi" &lt;b&gt; &amp; \\</text>' in svg


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.svg", "svg"), ("b.PNG", "png"), ("c.pdf", "pdf"), ("d.gv", "dot"), ("e.mmd", "mmd")],
)
def test_the_suffix_names_the_format(name: str, expected: str) -> None:
    assert format_of(name) == expected


@pytest.mark.parametrize("name", ["mnist_residual", "mnist_inception", "resnet18"])
def test_the_pictures_in_the_docs_are_current(name: str) -> None:
    """docs/images holds `netspec graph specs/NAME.net -o docs/images/NAME.svg`."""
    shown = (ROOT / "docs" / "images" / f"{name}.svg").read_bytes()
    assert shown == render(graph(str(ROOT / "specs" / f"{name}.net"), name), "svg")


def test_the_library_reads_paths_text_programs_and_models() -> None:
    import netspec
    from netspec.errors import NetspecError, UnknownNameError

    program = netspec.load(ROOT / "specs" / "logic_gates.net")
    from_program = graph_of(program, model="xor_gate")
    from_path = graph_of(ROOT / "specs" / "logic_gates.net", model="xor_gate")
    assert from_program.nodes.keys() == from_path.nodes.keys()
    assert graph_of(program.model("and_gate")).name == "and_gate"
    with pytest.raises(UnknownNameError, match="no model named 'nor_gate'"):
        graph_of(program, model="nor_gate")
    with pytest.raises(
        NetspecError, match="no model named 'or_gate'; the model given is 'and_gate'"
    ):
        graph_of(program.model("and_gate"), model="or_gate")
    with pytest.raises(NetspecError, match="has errors") as caught:
        graph_of("netspec 1\nmodel m(x: [16, 5, 5]) { dense(10) }\n")
    assert [d.code for d in caught.value.diagnostics] == ["E012"]
    with pytest.raises(NetspecError, match="unknown picture format 'jpg'"):
        render(_tiny(), "jpg")  # type: ignore[arg-type]
