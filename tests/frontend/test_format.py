"""The canonical layout: what format_source prints, and that it never changes a program."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netspec import analyze
from netspec.syntax.format import WIDTH, FormatError, format_source

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "specs").rglob("*.net")) + sorted((ROOT / "netspec" / "std").glob("*.net"))
SPAN_KEYS = {"file", "line", "column", "end_line", "end_column"}


def without_locations(value: Any) -> Any:
    """A dumped IR with every source span replaced by None: layout moves spans only."""
    if isinstance(value, dict):
        if value.keys() >= SPAN_KEYS:
            return None
        return {key: without_locations(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_locations(item) for item in value]
    return value


def meaning(text: str, file: str) -> Any:
    """What ``text`` means: its IR without locations, or its diagnostics' codes."""
    analysis = analyze(text, file)
    if analysis.program is None:
        return sorted(d.code for d in analysis.diagnostics if d.is_error)
    return without_locations(analysis.program.model_dump(mode="json"))


def assert_formats_safely(text: str, file: str) -> str:
    """Format ``text``: the result is a fixed point and means what ``text`` means."""
    formatted = format_source(text, file)
    assert format_source(formatted, file) == formatted, "formatting is not idempotent"
    assert meaning(formatted, file) == meaning(text, file)
    return formatted


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_formatting_a_shipped_spec_keeps_its_program(path: Path) -> None:
    assert_formats_safely(path.read_text("utf-8"), str(path))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_spec_is_formatted(path: Path) -> None:
    text = path.read_text("utf-8")
    assert format_source(text, str(path)) == text, f"run `netspec fmt {path.relative_to(ROOT)}`"


CASES = {
    "spacing": (
        "netspec 1\nlet b=-a**-2+(3*4)//2\nmodel m(x:float64[1,28],y:[3]){\n"
        "conv2d(3,-1,padding=same)->relu\n}\n",
        "netspec 1\n\nlet b = -a ** -2 + (3 * 4) // 2\n\nmodel m(x: float64[1, 28], y: [3]) {\n"
        "    conv2d(3, -1, padding = same) -> relu\n}\n",
    ),
    "train keys in one column": (
        "train m {\ndata mnist\n  early_stopping monitor=val_loss, patience=2\nepochs 3 }\n",
        "train m {\n    data           mnist\n"
        "    early_stopping monitor = val_loss, patience = 2\n    epochs         3\n}\n",
    ),
    "the precision key in the column": (
        "train m {\ndata mnist\n  precision   bf16\nepochs 3 }\n",
        "train m {\n    data      mnist\n    precision bf16\n    epochs    3\n}\n",
    ),
    "blank lines: one between items, consecutive lets kept together": (
        "import std.vgg\nimport std.resnet\n\n\n\nlet a = 1\n\n\nlet b = 2\nlet c = 3\n"
        "defaults { init = he_normal }\nblock b() {\n\n  input x\n\n\n\n  x\n\n}\n",
        "import std.vgg\nimport std.resnet\n\nlet a = 1\n\nlet b = 2\nlet c = 3\n\n"
        "defaults {\n    init = he_normal\n}\n\nblock b() {\n    input x\n\n    x\n}\n",
    ),
    "nested bodies": (
        "model m(x: [4]) { repeat 2 { dense(4) -> relu } dense(1) }\n",
        "model m(x: [4]) {\n    repeat 2 {\n        dense(4) -> relu\n    }\n    dense(1)\n}\n",
    ),
    "trailing comments of a paragraph in one column": (
        "model m(x: [4]) {  # the model\n  dense(4) # four\n  relu # r\n\n"
        "  dense(100) -> relu # far\n}  # end\n",
        "model m(x: [4]) {  # the model\n    dense(4)       # four\n    relu           # r\n\n"
        "    dense(100) -> relu  # far\n}                       # end\n",
    ),
    "own-line comments keep their lines and blank lines": (
        "# header\nnetspec 1\n# about m\n\n# more\nmodel m(x: [4]) {\n# first\n  dense(4)\n"
        "    # last\n}\n# tail\n",
        "# header\nnetspec 1\n\n# about m\n\n# more\nmodel m(x: [4]) {\n    # first\n"
        "    dense(4)\n    # last\n}\n# tail\n",
    ),
    "a chain's comments stay with their stages": (
        "model m(x: [4]) {\n  h = x -> dense(4)  # a\n    -> relu  # b\n"
        "    # about c\n    -> dense(2)\n  h\n}\n",
        "model m(x: [4]) {\n    h = x -> dense(4)  # a\n          -> relu      # b\n"
        "          # about c\n          -> dense(2)\n    h\n}\n",
    ),
    "a comment inside a call breaks the line there": (
        "train m {\n  optimizer sgd(lr = 0.1,  # fast\n  momentum = 0.9)\n}\n",
        "train m {\n    optimizer sgd(lr = 0.1,  # fast\n            momentum = 0.9)\n}\n",
    ),
    "empty text": ("", ""),
    "comments only": ("  # a\n\n\n# b   \n", "# a\n\n# b\n"),
}


@pytest.mark.parametrize(("source", "expected"), CASES.values(), ids=CASES.keys())
def test_layout(source: str, expected: str) -> None:
    assert format_source(source) == expected
    assert format_source(expected) == expected


def test_a_long_chain_wraps_before_an_arrow_under_the_first_one() -> None:
    stage = "conv2d(16, 3, padding = 1)"
    source = "model m(x: [1, 8, 8]) {\n    h = x" + f" -> {stage}" * 8 + "\n    h\n}\n"
    lines = format_source(source).splitlines()
    chain = lines[1 : lines.index("    h")]
    assert len(chain) > 1
    assert all(len(line) <= WIDTH for line in chain)
    arrow = chain[0].index("->")
    assert all(line.index("->") == arrow for line in chain[1:])
    assert all(line.lstrip().startswith("->") for line in chain[1:])
    assert_formats_safely(source, "<string>")


def test_a_wrapped_chain_that_fits_is_joined() -> None:
    source = "model m(x: [4]) {\n    x -> dense(4)\n      -> relu\n}\n"
    assert format_source(source) == "model m(x: [4]) {\n    x -> dense(4) -> relu\n}\n"


def test_a_bom_and_crlf_line_ends_are_dropped() -> None:
    source = "\ufeffnetspec 1\r\n\r\nlet a = 1  # one\r\n"
    assert format_source(source) == "netspec 1\n\nlet a = 1  # one\n"


def test_a_syntax_error_is_the_diagnostic_check_reports() -> None:
    source = "model m(x: [4]) {\n    dense(4 -> relu\n}\n"
    with pytest.raises(FormatError) as raised:
        format_source(source, "bad.net")
    [reported] = [d for d in analyze(source, "bad.net").diagnostics if d.is_error]
    assert raised.value.diagnostics == (reported,)
    assert str(raised.value).startswith(f"bad.net:{reported.span.line}:{reported.span.column}: ")
