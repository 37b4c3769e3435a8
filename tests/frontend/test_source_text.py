"""The raw text of a spec: byte-order marks, bytes that are not UTF-8, bidi controls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import netspec
from netspec.cli import EXIT_OK, EXIT_SPEC, main

SPEC = "model m(x: [3]) {\n    dense(2) # caf\u00e9\n}\n"


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.net"
    path.write_bytes(b"\xef\xbb\xbf" + SPEC.encode())
    assert main(["check", str(path)]) == EXIT_OK
    assert netspec.load(path).model().name == "m"
    # Columns on the first line count from after the mark, as editors show them.
    analysis = netspec.analyze("\ufeffmodel m(x: [3]) { dens(2) }")
    assert [(d.code, d.span.column) for d in analysis.diagnostics] == [("E002", 19)]


@pytest.fixture
def latin1(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.net"
    path.write_bytes(SPEC.encode("latin-1"))
    return path


def test_a_file_that_is_not_utf8_is_a_located_spec_error(
    latin1: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--color", "never", str(latin1)]) == EXIT_SPEC
    err = capsys.readouterr().err
    assert f"{latin1}:2:19: error[E008]: the file is not UTF-8 text: byte 0xe9" in err
    assert "2 |     dense(2) # caf\ufffd" in err
    assert "save the file as UTF-8" in err


def test_a_file_that_is_not_utf8_in_json_and_in_load(
    latin1: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--format", "json", str(latin1)]) == EXIT_SPEC
    (report,) = json.loads(capsys.readouterr().out)
    (diagnostic,) = report["diagnostics"]
    assert diagnostic["code"] == "E008"
    assert (diagnostic["span"]["line"], diagnostic["span"]["column"]) == (2, 19)
    with pytest.raises(netspec.NetspecError) as caught:
        netspec.load(latin1)
    assert [d.code for d in caught.value.diagnostics] == ["E008"]
    assert f"{latin1}:2:19" in str(caught.value)


def test_summary_of_a_file_that_is_not_utf8_exits_1(latin1: Path) -> None:
    assert main(["summary", str(latin1)]) == EXIT_SPEC


@pytest.mark.parametrize("char", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200f", "\u061c"])
def test_bidi_control_characters_are_warned_about(char: str) -> None:
    analysis = netspec.analyze(f"model m(x: [3]) {{\n    dense(2) # ok{char} done\n}}\n", "b.net")
    assert analysis.ok
    (d,) = analysis.diagnostics
    assert (d.code, d.severity, d.span.line, d.span.column) == ("W005", "warning", 2, 18)
    assert f"U+{ord(char):04X}" in d.message
    # The rendered source line never carries the control character itself.
    assert char not in analysis.render()


def test_every_bidi_control_character_is_reported_once() -> None:
    analysis = netspec.analyze('model m(x: [3]) { dense(2) }  # "\u202e \u2066"\n')
    assert [(d.code, d.span.column) for d in analysis.diagnostics] == [
        ("W005", 34),
        ("W005", 36),
    ]
