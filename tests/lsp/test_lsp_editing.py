"""Completion and quick fixes, through the protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lsprotocol", reason="lsprotocol is not installed (pip install netspec[lsp])")
pytest.importorskip("pygls", reason="pygls is not installed (pip install netspec[lsp])")

from netspec.elaborate.train import KEYS, OPTIMIZERS
from netspec.frontend import analyze
from netspec.lsp.client import Client
from netspec.ops import LAYER_NAMES
from netspec.syntax.format import format_source

GOOD = """netspec 1
let width = 16
block pair(c, k = 3) {
    conv2d(c, k) -> relu
}
model m(x: [1, 28, 28]) {
    h = conv2d(width, 3) -> relu
    flatten
    dense(10)
}
train m { data mnist  loss softmax_cross_entropy  optimizer adam }
"""


def _labels(client: Client, uri: str, line: int, character: int) -> dict[str, dict[str, Any]]:
    result = client.at("textDocument/completion", uri, line, character)
    return {item["label"]: item for item in result["items"]}


def _edited(client: Client, uri: str, text: str, version: int) -> None:
    """Send the text being typed (it need not parse) and wait for its analysis."""
    client.change(uri, text, version)
    client.diagnostics(uri)


@pytest.fixture
def document(client: Client, tmp_path: Path) -> str:
    uri = (tmp_path / "typing.net").resolve().as_uri()
    client.open(uri, GOOD)
    assert client.diagnostics(uri) == []
    return uri


def test_completion_in_a_body_offers_layers_and_names_in_scope(
    client: Client, document: str
) -> None:
    text = GOOD.replace("    flatten\n", "    flatten\n    \n")
    _edited(client, document, text, 2)
    items = _labels(client, document, 8, 4)
    assert set(LAYER_NAMES) <= set(items)  # every layer and activation of the registry
    assert {"width", "pair", "h"} <= set(items)  # constant, block, named tensor
    conv = items["conv2d"]
    assert conv["insertText"] == "conv2d(${1:filters}, ${2:kernel})"  # a snippet
    assert conv["insertTextFormat"] == 2
    assert "stride = 1" in conv["detail"]


def test_completion_of_arguments_with_their_defaults(client: Client, document: str) -> None:
    text = GOOD.replace("    flatten\n", "    flatten\n    dense(10, \n")
    _edited(client, document, text, 2)
    items = _labels(client, document, 8, len("    dense(10, "))
    assert items["activation ="]["insertText"] == "activation = ${1:unset}"
    assert items["bias ="]["detail"] == "bias = true"
    assert "width" in items  # a value may be a constant
    block = GOOD.replace("    flatten\n", "    flatten\n    pair(4, \n")
    _edited(client, document, block, 3)
    items = _labels(client, document, 8, len("    pair(4, "))
    assert items["k ="]["insertText"] == "k = ${1:3}"
    assert items["c ="]["detail"] == "c (required)"
    value = GOOD.replace("    flatten\n", "    flatten\n    dense(10, activation = \n")
    _edited(client, document, value, 4)
    items = _labels(client, document, 8, len("    dense(10, activation = "))
    assert {"relu", "tanh", "softmax"} <= set(items) and "dense" not in items


def test_completion_in_a_train_section(client: Client, document: str) -> None:
    text = GOOD.replace("optimizer adam }", "optimizer adam\n    \n}")
    _edited(client, document, text, 2)
    assert set(_labels(client, document, 11, 4)) == set(KEYS)
    typing = GOOD.replace(
        "optimizer adam }", "optimizer adam\n    schedule cosine\n    optimizer \n}"
    )
    _edited(client, document, typing, 3)
    items = _labels(client, document, 12, len("    optimizer "))
    assert set(items) == set(OPTIMIZERS)
    assert "lr = 0.001" in items["adam"]["detail"]
    choosing = GOOD.replace("optimizer adam }", "optimizer adam\n    precision \n}")
    _edited(client, document, choosing, 4)
    assert set(_labels(client, document, 11, len("    precision "))) == {"fp32", "bf16", "fp16"}


def _apply(text: str, edit: dict[str, Any]) -> str:
    lines = text.split("\n")
    start, end = edit["range"]["start"], edit["range"]["end"]
    head = "\n".join([*lines[: start["line"]], lines[start["line"]][: start["character"]]])
    tail = "\n".join([lines[end["line"]][end["character"] :], *lines[end["line"] + 1 :]])
    return head + edit["newText"] + tail


@pytest.mark.parametrize(
    ("broken", "title", "code"),
    [
        ("    dense(10)\n", "insert flatten before dense", "E012"),
        ("    flatten -> dense(10) -> sofmax\n", "replace 'sofmax' with 'softmax'", "E002"),
        ("    conv2d(4, 3, strid = 1) -> flatten -> dense(10)\n", "replace 'strid' with 'stride'",
         "E004"),
    ],
)  # fmt: skip
def test_a_quick_fix_resolves_its_diagnostic(
    client: Client, tmp_path: Path, broken: str, title: str, code: str
) -> None:
    text = GOOD.replace("    flatten\n    dense(10)\n", "    h -> conv2d(4, 3)\n" + broken)
    uri = (tmp_path / "fix.net").resolve().as_uri()
    client.open(uri, text)
    (diagnostic,) = [d for d in client.diagnostics(uri) if d["severity"] == 1]
    assert diagnostic["code"] == code
    actions = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": diagnostic["range"],
            "context": {"diagnostics": [diagnostic]},
        },
    )
    chosen = next(a for a in actions if a["title"] == title)
    assert chosen["kind"] == "quickfix"
    (edit,) = chosen["edit"]["changes"][uri]
    fixed = _apply(text, edit)
    assert analyze(fixed, "fixed.net").ok, fixed


def test_formatting_gives_the_layout_of_netspec_fmt(client: Client, tmp_path: Path) -> None:
    messy = "netspec 1\nmodel m(x:[4]){\n  dense( 8 )->relu   # hidden\n dense(2)}\n"
    uri = (tmp_path / "messy.net").resolve().as_uri()
    client.open(uri, messy)
    client.diagnostics(uri)
    options = {"tabSize": 4, "insertSpaces": True}
    params = {"textDocument": {"uri": uri}, "options": options}
    (edit,) = client.request("textDocument/formatting", params)
    formatted = _apply(messy, edit)
    assert formatted == format_source(messy) != messy
    _edited(client, uri, formatted, 2)
    assert client.request("textDocument/formatting", params) == []  # already formatted
    _edited(client, uri, messy.replace("dense(2)}", "dense(2)"), 3)
    assert client.request("textDocument/formatting", params) == []  # a syntax error


def test_completion_of_imported_names_and_setting_arguments(client: Client, tmp_path: Path) -> None:
    (tmp_path / "lib.net").write_text(
        "netspec 1\nlet depth = 2\nblock mlp(units = 16) {\n    dense(units)\n}\n"
    )
    text = 'netspec 1\nimport "lib.net" as lib\nimport std.vgg\nmodel m(x: [4]) {\n    \n}\n'
    text += "train m { data xor  loss mse  optimizer sgd }\n"
    uri = (tmp_path / "uses.net").resolve().as_uri()
    client.open(uri, text)
    client.diagnostics(uri)
    text = text.replace("optimizer sgd }", "optimizer sgd(  }")  # being typed: no parse
    _edited(client, uri, text, 2)
    body = _labels(client, uri, 4, 4)
    assert {"lib.mlp", "lib.depth"} <= set(body)  # through the namespace
    assert "mlp" not in body and "stage" in body  # std.vgg has no namespace
    line = text.splitlines()[6]
    arguments = _labels(client, uri, 6, line.index("sgd(") + 4)
    assert arguments["lr ="]["detail"] == "lr = 0.01"
    assert arguments["momentum ="]["detail"] == "momentum = 0"


def test_closing_a_file_clears_its_diagnostics(client: Client, tmp_path: Path) -> None:
    uri = (tmp_path / "closed.net").resolve().as_uri()
    client.open(uri, "netspec 1\nmodel m(x: [4]) { dense(2) -> relux }\n")
    assert [d["code"] for d in client.diagnostics(uri)] == ["E002"]
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri) == []


def test_completion_in_a_file_that_has_not_parsed_yet(client: Client, tmp_path: Path) -> None:
    # Opened mid-edit: the names come from the rest of the file.
    text = "netspec 1\nlet width = 3\nmodel m(x: [4]) {\n    h = dense(width)\n    dense(\n}\n"
    uri = (tmp_path / "never.net").resolve().as_uri()
    client.open(uri, text)
    assert [d["code"] for d in client.diagnostics(uri)] == ["E001"]
    items = _labels(client, uri, 4, len("    dense("))
    assert {"units =", "width", "h"} <= set(items)
