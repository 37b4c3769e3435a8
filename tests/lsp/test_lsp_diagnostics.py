"""Diagnostics as you type: the same codes, ranges, messages and help as `netspec check`,
for the unsaved text, and for imported files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lsprotocol", reason="lsprotocol is not installed (pip install netspec[lsp])")
pytest.importorskip("pygls", reason="pygls is not installed (pip install netspec[lsp])")

from netspec.cli import main
from netspec.lsp.client import Client
from tests.lsp.conftest import Opener

BAD = {
    # errors of several kinds, with help, labels and a did-you-mean
    "mixed": """netspec 1
let width = 32
model m(x: [1, 8, 8]) {
    conv2d(4, 3) -> relu
    dense(10) -> softmaxx
    h = dense(width)
}
train m { data mnist  loss softmax_cross_entropy  optimizr adam }
""",
    # warnings only: an unused tensor, softmax before softmax_cross_entropy
    "warnings": """netspec 1
model m(x: [784]) {
    unused = dense(4)
    dense(10) -> softmax
}
train m { data mnist  loss softmax_cross_entropy  optimizer adam }
""",
    # a block's error at its use, and a syntax error is tested apart
    "block": """netspec 1
block twice(c) {
    conv2d(c, 3) -> dense(c)
}
model m(x: [3, 8, 8]) {
    twice(4)
    flatten -> dense(2)
}
""",
}


def _check_json(path: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    main(["check", "--format", "json", str(path)])
    return json.loads(capsys.readouterr().out)[0]["diagnostics"]


def _range(span: dict[str, int]) -> dict[str, dict[str, int]]:
    return {
        "start": {"line": span["line"] - 1, "character": span["column"] - 1},
        "end": {"line": span["end_line"] - 1, "character": span["end_column"] - 1},
    }


@pytest.mark.parametrize("name", sorted(BAD))
def test_diagnostics_equal_netspec_check(
    name: str, tmp_path: Path, opened: Opener, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{name}.net"
    path.write_text(BAD[name])
    _, published = opened(path)
    expected = _check_json(path, capsys)
    assert expected, "the case must have diagnostics"
    assert [d["code"] for d in published] == [d["code"] for d in expected]
    assert [d["range"] for d in published] == [_range(d["span"]) for d in expected]
    for got, want in zip(published, expected, strict=True):
        assert got["severity"] == (1 if want["severity"] == "error" else 2)
        assert got["message"].splitlines()[0].startswith(want["message"])
        for line in want["help"]:
            assert f"help: {line}" in got["message"].splitlines()
        labels = [(r["message"], r["location"]["range"]) for r in got.get("relatedInformation", [])]
        for label in want["labels"]:
            assert (label["message"], _range(label["span"])) in labels


def test_the_unsaved_text_is_analysed_not_the_file(tmp_path: Path, client: Client) -> None:
    path = tmp_path / "edited.net"
    path.write_text("netspec 1\nmodel m(x: [4]) { dense(2) }\n")
    uri = path.resolve().as_uri()
    client.open(uri, "netspec 1\nmodel m(x: [4]) { dens(2) }\n")
    (unknown,) = client.diagnostics(uri)
    assert unknown["code"] == "E002"
    assert unknown["range"]["start"] == {"line": 1, "character": 18}
    client.change(uri, "netspec 1\nmodel m(x: [4]) { dense(2) }\n", 2)
    assert client.diagnostics(uri) == []  # fixed in the buffer: cleared
    client.change(uri, "netspec 1\nmodel m(x: [4]) { dense(2) ", 3)
    (syntax,) = client.diagnostics(uri)
    assert syntax["code"] == "E001"


def test_an_imported_files_error_is_published_for_it_and_at_the_import(
    tmp_path: Path, client: Client
) -> None:
    library = tmp_path / "blocks.net"
    library.write_text("netspec 1\nlet w = 3 // 0\nblock mlp(units = 16) {\n    dense(units)\n}\n")
    main_file = tmp_path / "main.net"
    main_file.write_text('netspec 1\nimport "blocks.net"\nmodel m(x: [8]) {\n    mlp(4)\n}\n')
    uri = main_file.resolve().as_uri()
    client.open(uri, main_file.read_text())
    published: dict[str, list[dict[str, Any]]] = {}
    while uri not in published or library.resolve().as_uri() not in published:
        params = client.notification("textDocument/publishDiagnostics")
        published[params["uri"]] = params["diagnostics"]
    (in_library,) = published[library.resolve().as_uri()]
    assert in_library["code"] == "E007"
    assert in_library["range"] == _range({"line": 2, "column": 9, "end_line": 2, "end_column": 15})
    (at_import,) = published[uri]
    assert at_import["code"] == "E007"
    assert at_import["range"]["start"] == {"line": 1, "character": 0}  # the import line
    related = at_import["relatedInformation"][0]
    assert related["location"]["uri"] == library.resolve().as_uri()
    assert related["location"]["range"] == in_library["range"]
    # Fixed in the importing file's view: the library's diagnostics are cleared too.
    client.change(uri, "netspec 1\nmodel m(x: [8]) {\n    dense(4)\n}\n", 2)
    cleared: dict[str, list[dict[str, Any]]] = {}
    while uri not in cleared or library.resolve().as_uri() not in cleared:
        params = client.notification("textDocument/publishDiagnostics")
        cleared[params["uri"]] = params["diagnostics"]
    assert cleared == {uri: [], library.resolve().as_uri(): []}
