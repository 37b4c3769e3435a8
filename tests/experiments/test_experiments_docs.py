"""docs/experiments.md shows what the code does: its Python examples run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_docs import _python_blocks

BLOCKS = _python_blocks("docs/experiments.md")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_the_python_examples_run(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write their runs under runs/
    code = BLOCKS[index].replace('"specs/', f'"{ROOT}/specs/')
    exec(compile(code, f"docs/experiments.md block {index}", "exec"), {})
    assert capsys.readouterr().out.strip()
