"""docs/experiments.md shows what the code does: its Python examples run, its sweep spec
has the spaces it shows."""

from __future__ import annotations

from pathlib import Path

import pytest

import netspec
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


def test_the_shipped_sweep_spec_has_the_spaces_the_doc_shows() -> None:
    spec = ROOT / "specs" / "sweeps" / "digits_sweep.net"
    spaces = {site.path: site.space.kind for site in netspec.search_spaces(spec)}
    assert spaces == {
        "let.width": "int_uniform",
        "dropout_1.p": "uniform",
        "optimizer.lr": "log_uniform",
    }
    doc = (ROOT / "docs" / "experiments.md").read_text()
    assert all(f"{path}=" in doc for path in spaces)
    # Each space fixed at a value: a spec that checks and trains like specs/digits.net.
    chosen = netspec.substitute(spec, {"let.width": 64, "dropout_1.p": 0.1, "optimizer.lr": 3e-3})
    assert chosen.program.train("digits").optimizer.lr == 3e-3
