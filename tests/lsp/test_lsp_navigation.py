"""Hover, go to definition, references and document symbols, through the protocol."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lsprotocol", reason="lsprotocol is not installed (pip install netspec[lsp])")
pytest.importorskip("pygls", reason="pygls is not installed (pip install netspec[lsp])")

import netspec
from netspec.elaborate.imports import STD_DIR
from netspec.lsp.client import Client
from tests.lsp.conftest import Opener

SPEC = """netspec 1
import std.resnet
let base = 8
let width = 2 * base
block head(units = 10) {
    dense(units)
}
model net(x: [1, 8, 8]) {
    conv2d(width, 3, padding = 1) -> batchnorm -> relu
    features = basic(width) -> global_avgpool
    features -> dense(width) -> relu
    head(10)
}
train net { data digits  loss softmax_cross_entropy  optimizer adam(lr = 0.01) }
"""


def _position(text: str, line: int, needle: str, nth: int = 0) -> tuple[int, int]:
    """The 0-based (line, character) of the ``nth`` ``needle`` on 1-based ``line``."""
    row = text.splitlines()[line - 1]
    at = -1
    for _ in range(nth + 1):
        at = row.index(needle, at + 1)
    return line - 1, at


@pytest.fixture
def spec(tmp_path: Path, opened: Opener) -> tuple[str, Path]:
    path = tmp_path / "net.net"
    path.write_text(SPEC)
    uri, diagnostics = opened(path)
    assert diagnostics == []
    return uri, path


def _hover(client: Client, uri: str, line: int, needle: str, nth: int = 0) -> str:
    result = client.at("textDocument/hover", uri, *_position(SPEC, line, needle, nth))
    assert result is not None and result["contents"]["kind"] == "markdown"
    return result["contents"]["value"]


def test_hover_on_a_layer_gives_its_op_shape_parameters_and_flops(
    client: Client, spec: tuple[str, Path]
) -> None:
    uri, path = spec
    text = _hover(client, uri, 9, "conv2d")
    assert "conv2d(filters, kernel, stride = 1, padding = 0" in text  # arguments, defaults
    node = netspec.load(path).model().node("conv2d_1")
    params = sum(math.prod(p.shape) for p in netspec.load(path).model().params
                 if p.name.startswith("conv2d_1."))  # fmt: skip
    assert "`conv2d(16, 3, padding = 1)`" in text  # as written, from the summary
    assert f"`[{', '.join(map(str, node.output.shape))}]`" in text
    assert f"| {params:,} | {node.flops:,} |" in text


def test_hover_on_a_block_use_sums_its_nodes(client: Client, spec: tuple[str, Path]) -> None:
    uri, path = spec
    text = _hover(client, uri, 10, "basic")
    assert "block basic(c)" in text and str(STD_DIR / "resnet.net") in text
    model = netspec.load(path).model()
    params = sum(math.prod(p.shape) for p in model.params if p.name.startswith("basic_1."))
    flops = sum(n.flops for n in model.nodes if n.name.startswith("basic_1."))
    assert f"| `basic_1` | `[16, 8, 8]` | {params:,} | {flops:,} |" in text


def test_hover_on_a_constant_a_tensor_and_a_model(client: Client, spec: tuple[str, Path]) -> None:
    uri, _ = spec
    assert "value: `16`" in _hover(client, uri, 9, "width")  # let width = 2 * base
    assert "let width = 2 * base" in _hover(client, uri, 4, "width")
    assert "shape `[16]` per sample" in _hover(client, uri, 11, "features")
    assert "shape `[1, 8, 8]` per sample" in _hover(client, uri, 8, "x")
    assert "block head(units = 10)" in _hover(client, uri, 12, "head")
    assert "output `[10]`" in _hover(client, uri, 14, "net")


def test_hover_without_figures_while_the_file_has_errors(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "broken.net"
    text = "netspec 1\nmodel m(x: [4]) {\n    dense(2) -> relu\n    dense(nope)\n}\n"
    uri = path.resolve().as_uri()
    client.open(uri, text)
    client.diagnostics(uri)
    value = client.at("textDocument/hover", uri, 2, 5)["contents"]["value"]
    assert "dense(units, activation = unset" in value or "dense(units" in value
    assert "appear once this model checks without errors" in value


def test_hover_keeps_the_figures_of_a_model_that_checks(client: Client, tmp_path: Path) -> None:
    # The train section does not fit (E031), and a second model has an error (E002):
    # the first model still checks, and its figures are shown.
    path = tmp_path / "partly.net"
    text = (
        "netspec 1\nmodel ok(x: [4]) {\n    dense(3)\n}\n"
        "model bad(x: [4]) {\n    dense(2) -> relux\n}\n"
        "train ok { data mnist  loss mse  optimizer sgd }\n"
    )
    uri = path.resolve().as_uri()
    client.open(uri, text)
    assert {d["code"] for d in client.diagnostics(uri)} == {"E002", "E031"}
    value = client.at("textDocument/hover", uri, 2, 5)["contents"]["value"]
    assert "| `dense_1` | `dense(3)` | `[3]` | 15 | " in value
    assert "output `[3]`" in client.at("textDocument/hover", uri, 1, 7)["contents"]["value"]
    failed = client.at("textDocument/hover", uri, 5, 5)["contents"]["value"]
    assert "appear once this model checks without errors" in failed


def _definition(client: Client, uri: str, line: int, needle: str, nth: int = 0) -> dict[str, Any]:
    return client.at("textDocument/definition", uri, *_position(SPEC, line, needle, nth))


def test_definition_of_each_kind_of_name(client: Client, spec: tuple[str, Path]) -> None:
    uri, _ = spec
    constant = _definition(client, uri, 9, "width")
    assert constant == {"uri": uri, "range": _range(4, "width")}
    assert _definition(client, uri, 4, "base")["range"] == _range(3, "base")
    assert _definition(client, uri, 12, "head")["range"] == _range(5, "head")
    assert _definition(client, uri, 11, "features")["range"] == _range(10, "features")
    assert _definition(client, uri, 14, "net")["range"] == _range(8, "net")
    imported = _definition(client, uri, 10, "basic")
    std = (STD_DIR / "resnet.net").resolve()
    assert imported["uri"] == std.as_uri()
    line = next(n for n, row in enumerate(std.read_text().splitlines()) if "block basic" in row)
    assert imported["range"]["start"]["line"] == line
    module = _definition(client, uri, 2, "std.resnet")
    assert module["uri"] == std.as_uri() and module["range"]["start"] == {"line": 0, "character": 0}


def _range(line: int, needle: str) -> dict[str, dict[str, int]]:
    row, at = _position(SPEC, line, needle)
    return {
        "start": {"line": row, "character": at},
        "end": {"line": row, "character": at + len(needle)},
    }


def test_references_find_every_use(client: Client, spec: tuple[str, Path]) -> None:
    uri, _ = spec
    found = client.at(
        "textDocument/references",
        uri,
        *_position(SPEC, 4, "width"),
        context={"includeDeclaration": True},
    )
    starts = [(r["range"]["start"]["line"], r["range"]["start"]["character"]) for r in found]
    assert starts == [_position(SPEC, n, "width") for n in (4, 9, 10, 11)]
    without = client.at(
        "textDocument/references",
        uri,
        *_position(SPEC, 11, "features"),
        context={"includeDeclaration": False},
    )
    assert [r["range"]["start"]["line"] + 1 for r in without] == [11]


def test_document_symbols_outline_the_file(client: Client, spec: tuple[str, Path]) -> None:
    uri, _ = spec
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    names = [(s["name"], s["detail"]) for s in symbols]
    assert names == [
        ("std.resnet", "import"),
        ("base", "let"),
        ("width", "let"),
        ("head", "block"),
        ("net", "model"),
        ("train net", "train"),
    ]
    model = symbols[4]
    assert [c["name"] for c in model["children"]] == ["x", "features"]
    assert [c["name"] for c in symbols[3]["children"]] == ["units"]


NAMESPACED = """netspec 1
import "lib.net" as b
block twice(c, k = 3) {
    input t
    h = t -> conv2d(c, k, padding = same) -> relu
    add(t, h)
}
model m(x: [4, 6, 6]) {
    twice(4)
    flatten
    b.mlp(8)
}
"""


def test_namespaced_imports_block_parameters_and_merges(
    client: Client, tmp_path: Path, opened: Opener
) -> None:
    library = tmp_path / "lib.net"
    library.write_text("netspec 1\nblock mlp(units = 16) {\n    dense(units) -> relu\n}\n")
    path = tmp_path / "ns.net"
    path.write_text(NAMESPACED)
    uri, diagnostics = opened(path)
    assert diagnostics == []
    lines = NAMESPACED.splitlines()

    def at(line: int, needle: str) -> tuple[int, int]:
        return line - 1, lines[line - 1].index(needle)

    lib = library.resolve().as_uri()
    # The import, from its file name as well as its namespace.
    for needle in ('"lib.net"', " b"):
        line, character = at(2, needle)
        found = client.at("textDocument/definition", uri, line, character + 1)
        assert found == {"uri": lib, "range": {"start": {"line": 0, "character": 0},
                                               "end": {"line": 0, "character": 0}}}  # fmt: skip
    assert (
        "reads `" + str(library.resolve())
        in client.at("textDocument/hover", uri, *at(2, "lib"))["contents"]["value"]
    )
    qualified = client.at("textDocument/definition", uri, *at(11, "b.mlp"))
    assert qualified["uri"] == lib and qualified["range"]["start"] == {"line": 1, "character": 6}
    mlp = client.at("textDocument/hover", uri, *at(11, "b.mlp"))["contents"]["value"]
    assert "block mlp(units = 16)" in mlp and "| `mlp_1` | `[8]` | 1,160 |" in mlp
    # A block parameter: defined in the header, used in the body.
    line, character = at(5, "(c")
    parameter = client.at("textDocument/definition", uri, line, character + 1)
    assert parameter["range"]["start"] == {"line": 2, "character": lines[2].index("c,")}
    uses = client.at(
        "textDocument/references", uri, line, character + 1, context={"includeDeclaration": False}
    )
    assert [u["range"]["start"]["line"] for u in uses] == [4]
    # A merge names the tensors it takes; a tensor of a block has a shape per use.
    assert (
        "add(tensors...)"
        in client.at("textDocument/hover", uri, *at(6, "add"))["contents"]["value"]
    )
    assert (
        "`[4, 6, 6]` (per use)"
        in client.at("textDocument/hover", uri, *at(5, "h"))["contents"]["value"]
    )
