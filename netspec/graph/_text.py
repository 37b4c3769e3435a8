"""The graph as text for other tools: Graphviz DOT and Mermaid flowcharts.

Both carry the same content as the picture (op, name, shape, parameters; clusters with
their labels; the input and output marked); the layout is left to the tool.
"""

from __future__ import annotations

from netspec.graph._model import Graph
from netspec.graph._style import CLUSTERS, COLORS, FONT_FAMILIES


def _dot_string(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as \\n."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Graph) -> str:
    """``graph`` as a Graphviz digraph: clusters are ``subgraph cluster_N`` blocks."""
    font = FONT_FAMILIES[0]
    lines = [
        f"digraph {_dot_string(graph.name)} {{",
        f"  graph [rankdir=TB, fontname={_dot_string(font)}, fontsize=10, "
        f"label={_dot_string(f'{graph.name}: {graph.parameters:,} parameters')}, labelloc=t];",
        f'  node [shape=box, style="rounded,filled", fontname={_dot_string(font)}, fontsize=10];',
        f"  edge [color={_dot_string('#555555')}, arrowsize=0.6];",
    ]
    numbers = {cluster: index for index, cluster in enumerate(graph.clusters)}

    def node_line(node_id: str, indent: str) -> str:
        node = graph.nodes[node_id]
        fill, stroke = COLORS[node.category]
        label = "\n".join([*node.title, node.detail])
        width = ", penwidth=2" if node.role != "op" or node.inputs > 1 else ""
        return (
            f"{indent}{_dot_string(node_id)} [label={_dot_string(label)}, "
            f"fillcolor={_dot_string(fill)}, color={_dot_string(stroke)}{width}];"
        )

    def cluster_lines(cluster_id: str, indent: str) -> list[str]:
        cluster = graph.clusters[cluster_id]
        fill, stroke, dash = CLUSTERS[cluster.kind]
        style = "rounded,filled,dashed" if dash else "rounded,filled"
        out = [
            f"{indent}subgraph cluster_{numbers[cluster_id]} {{",
            f"{indent}  label={_dot_string(cluster.label)}; labeljust=l; "
            f"style={_dot_string(style)}; fillcolor={_dot_string(fill)}; "
            f"color={_dot_string(stroke)};",
        ]
        out += [
            node_line(n.id, indent + "  ") for n in graph.nodes.values() if n.cluster == cluster_id
        ]
        for child in cluster.children:
            out += cluster_lines(child, indent + "  ")
        out.append(f"{indent}}}")
        return out

    lines += [node_line(n.id, "  ") for n in graph.nodes.values() if n.cluster is None]
    for cluster in graph.clusters.values():
        if cluster.parent is None:
            lines += cluster_lines(cluster.id, "  ")
    for edge in graph.edges:
        port = ""
        if graph.nodes[edge.target].inputs > 1:
            port = f" [headlabel={_dot_string(str(edge.port + 1))}, labelfontsize=8]"
        lines.append(f"  {_dot_string(edge.source)} -> {_dot_string(edge.target)}{port};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    """Text inside a Mermaid quoted label: quotes and markup characters as entities."""
    for char, entity in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, entity)
    return text


def to_mermaid(graph: Graph) -> str:
    """``graph`` as a Mermaid flowchart: clusters are subgraphs, ops coloured by family."""
    ids = {node: f"n{index}" for index, node in enumerate(graph.nodes)}
    cluster_ids = {cluster: f"c{index}" for index, cluster in enumerate(graph.clusters)}
    lines = ["flowchart TB"]

    def node_line(node_id: str, indent: str) -> str:
        node = graph.nodes[node_id]
        text = "<br/>".join(_mermaid_text(t) for t in [*node.title, node.detail])
        opening, closing = ("([", "])") if node.role != "op" else ('["', '"]')
        if node.role != "op":
            return f'{indent}{ids[node_id]}{opening}"{text}"{closing}'
        return f"{indent}{ids[node_id]}{opening}{text}{closing}"

    def cluster_lines(cluster_id: str, indent: str) -> list[str]:
        cluster = graph.clusters[cluster_id]
        out = [f'{indent}subgraph {cluster_ids[cluster_id]}["{_mermaid_text(cluster.label)}"]']
        out += [
            node_line(n.id, indent + "  ") for n in graph.nodes.values() if n.cluster == cluster_id
        ]
        for child in cluster.children:
            out += cluster_lines(child, indent + "  ")
        out.append(f"{indent}end")
        return out

    lines += [node_line(n.id, "  ") for n in graph.nodes.values() if n.cluster is None]
    for cluster in graph.clusters.values():
        if cluster.parent is None:
            lines += cluster_lines(cluster.id, "  ")
    for edge in graph.edges:
        lines.append(f"  {ids[edge.source]} --> {ids[edge.target]}")
    for category, (fill, stroke) in COLORS.items():
        members = [ids[n.id] for n in graph.nodes.values() if n.category == category]
        if members:
            lines.append(f"  classDef {category} fill:{fill},stroke:{stroke}")
            lines.append(f"  class {','.join(members)} {category}")
    return "\n".join(lines) + "\n"
