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
    program = netspec.load(ROOT / "specs" / "lenet5.net")
    table = summary_table(program.model(), train=program.train("lenet5"))
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


def _python_blocks(path: str) -> list[str]:
    blocks: list[str] = []
    current: list[str] | None = None
    for line in (ROOT / path).read_text().splitlines():
        if current is None and line.startswith("```python"):
            current = []
        elif current is not None and line.startswith("```"):
            blocks.append("\n".join(current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return blocks


@pytest.mark.parametrize("index", range(len(_python_blocks("README.md"))))
def test_readme_python_examples_run(
    index: int, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    block = _python_blocks("README.md")[index]
    for framework in ("torch", "jax"):
        if f"import {framework}" in block:
            pytest.importorskip(framework)
    if "torch.compile(" in block:
        request.getfixturevalue("torch_compile_imports")
    monkeypatch.chdir(ROOT)
    exec(compile(block, f"README.md python block {index + 1}", "exec"), {"__name__": "readme"})
