"""Machine-readable fixes on diagnostics: an edit per `did you mean` suggestion and the
flatten that E012 asks for, leaving the rendered text as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netspec.cli import main
from netspec.diagnostics import Diagnostic, render, resolve_fixes
from netspec.frontend import analyze


def _apply(source: str, diagnostic: Diagnostic, choice: int = 0) -> str:
    fix = diagnostic.fixes[choice]
    lines = source.split("\n")
    row = lines[fix.span.line - 1]
    lines[fix.span.line - 1] = (
        row[: fix.span.column - 1] + fix.replacement + row[fix.span.end_column - 1 :]
    )
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("body", "code", "replacement"),
    [
        ("flatten -> dense(10) -> softmaxx", "E002", "softmax"),  # unknown layer
        ("flatten -> densse(10)", "E002", "dense"),  # unknown layer, span is the call
        ("conv2d(4, 3, paddin = 1) -> relu -> flatten -> dense(10)", "E004", "padding"),  # argument
        ("flatten -> dense(widht)", "E006", "width"),  # a name where a number goes
        ("dense(10)", "E012", "flatten -> "),  # a vector needed
    ],
)
def test_each_fix_resolves_its_diagnostic(body: str, code: str, replacement: str) -> None:
    source = f"netspec 1\nlet width = 10\nmodel m(x: [1, 4, 4]) {{\n    {body}\n}}\n"
    (diagnostic,) = analyze(source, "t.net").diagnostics
    assert diagnostic.code == code
    assert diagnostic.fixes[0].replacement == replacement
    assert analyze(_apply(source, diagnostic), "t.net").diagnostics == []


def test_a_name_not_written_once_in_the_span_gets_no_fix() -> None:
    # The name is found by its text; where it cannot be placed, no edit is guessed.
    source = "netspec 1\nmodel m(x: [4]) {\n    dense(2) -> sigmoidd\n}\n"
    (diagnostic,) = analyze(source, "t.net").diagnostics
    assert {f.span.column for f in diagnostic.fixes} == {17}
    moved = diagnostic.model_copy(update={"span": diagnostic.span.model_copy(update={"line": 1})})
    (unresolved,) = resolve_fixes([moved.model_copy(update={"fixes": ()})], {"t.net": source})
    assert unresolved.fixes == ()


def test_fixes_appear_in_json_and_not_in_the_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = "netspec 1\nmodel m(x: [4]) {\n    dense(2) -> sigmoidd\n}\n"
    path = tmp_path / "t.net"
    path.write_text(source)
    main(["check", "--format", "json", str(path)])
    (report,) = json.loads(capsys.readouterr().out)
    fix = report["diagnostics"][0]["fixes"][0]
    assert fix["replacement"] == "sigmoid" and fix["span"]["column"] == 17
    (diagnostic,) = analyze(source, "t.net").diagnostics
    sources = {"t.net": source}
    assert render(diagnostic, sources) == render(
        diagnostic.model_copy(update={"fixes": ()}), sources
    )
