"""An error inside a block names the use (call site and instance) that failed."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest

from netspec import analyze
from netspec.cli import main
from netspec.diagnostics import Diagnostic, render_all

FILE = "t.net"

RES = """\
block res(c) {
    input x
    h = x -> conv2d(c, 3, padding = same) -> relu
    add(x, h)
}

block stage(c) {
    res(c)
}
"""


def diagnose(text: str) -> list[Diagnostic]:
    return analyze(dedent(text), FILE).diagnostics


def chain(diagnostic: Diagnostic) -> list[tuple[str, str, int, int]]:
    return [(u.instance, u.block, u.span.line, u.span.column) for u in diagnostic.uses]


def test_a_block_used_twice_names_the_use_that_failed() -> None:
    (d,) = diagnose(RES + "model m(x: [8, 12, 12]) {\n    res(8)\n    res(16)\n}\n")
    assert (d.code, d.span.line, d.span.column) == ("E010", 4, 5)
    assert chain(d) == [("res_2", "res", 12, 5)]


def test_nested_blocks_give_the_chain_of_uses_outermost_first() -> None:
    (d,) = diagnose(RES + "model m(x: [8, 12, 12]) {\n    stage(8)\n    first = stage(16)\n}\n")
    assert chain(d) == [("first", "stage", 12, 13), ("first.res_1", "res", 8, 5)]


def test_the_uses_are_drawn_with_dashes_and_noted_with_their_location() -> None:
    text = RES + "model m(x: [8, 12, 12]) {\n    stage(8)\n    first = stage(16)\n}\n"
    found = diagnose(text)
    rendered = render_all(found, {FILE: text})
    assert (
        "12 |     first = stage(16)\n   |             --------- 'first' uses block 'stage' here"
        in (rendered)
    )
    assert " 8 |     res(c)\n   |     ------ 'first.res_1' uses block 'res' here" in rendered
    assert "= note: in first.res_1 (block 'res' used at t.net:8:5)" in rendered
    assert "= note: in first (block 'stage' used at t.net:12:13)" in rendered


def test_an_argument_error_inside_a_block_names_its_use() -> None:
    (d,) = diagnose(
        """\
        block drop(p) {
            dropout(p)
        }
        model m(x: [4]) {
            drop(0.5)
            drop(2)
        }
        """
    )
    assert (d.code, d.span.line) == ("E004", 2)
    assert chain(d) == [("drop_2", "drop", 6, 5)]


def test_the_same_error_in_every_use_is_reported_once_with_a_count() -> None:
    (d,) = diagnose(
        """\
        block b {
            dense(4, bais = false)
        }
        model m(x: [4]) {
            b
            b
            b
        }
        """
    )
    assert (d.code, d.span.line) == ("E004", 2)
    assert chain(d) == [("b_1", "b", 5, 5)]
    assert "the same error occurs in 2 other uses" in d.notes


def test_check_json_carries_the_uses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "res.net"
    path.write_text(RES + "model m(x: [8, 12, 12]) {\n    res(8)\n    res(16)\n}\n")
    assert main(["check", "--format", "json", str(path)]) == 1
    (report,) = json.loads(capsys.readouterr().out)
    (diagnostic,) = report["diagnostics"]
    assert diagnostic["uses"] == [
        {
            "block": "res",
            "instance": "res_2",
            "span": {
                "file": str(path),
                "line": 12,
                "column": 5,
                "end_line": 12,
                "end_column": 12,
            },
        }
    ]
