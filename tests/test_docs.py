"""The documentation shows what the code does: examples are checked, outputs compared."""

from __future__ import annotations

import re

import pytest

import netspec
from netspec.summary import summary_table
from tests.conftest import ROOT


def _blocks(path: str) -> list[str]:
    """The contents of the fenced code blocks of a markdown file."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in (ROOT / path).read_text().splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_readme_summary_is_the_real_output() -> None:
    table = summary_table(netspec.load(ROOT / "specs" / "lenet5.net").model())
    assert any(table.strip() in block for block in _blocks("README.md"))


def _complete_examples() -> list[str]:
    return [
        b
        for b in _blocks("docs/language.md")
        if re.search(r"^model \w+\(", b, re.M) and "error[" not in b and "-->" not in b
    ]


@pytest.mark.parametrize("example", _complete_examples())
def test_language_doc_examples_check_cleanly(example: str) -> None:
    analysis = netspec.analyze(example, "example.net")
    errors = [d for d in analysis.diagnostics if d.is_error]
    assert not errors, analysis.render()


def test_every_diagnostic_code_is_documented() -> None:
    from netspec.diagnostics import CODES

    text = (ROOT / "docs" / "language.md").read_text()
    assert [code for code in CODES if f"| {code} |" not in text] == []
