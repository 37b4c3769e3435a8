"""docs/experiments.md shows what the code does: its Python examples run, its sweep spec
has the spaces it shows, its commands check with their overrides, its pictures are there."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import netspec
from tests.conftest import ROOT
from tests.test_docs import _blocks, _python_blocks

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


def _commands(program: str) -> list[tuple[int, list[str]]]:
    """Each ``$ netspec PROGRAM ...`` line of the doc's code blocks, split as the shell
    splits it, with the index of its block."""
    return [
        (index, shlex.split(line.removeprefix("$ netspec ")))
        for index, block in enumerate(_blocks("docs/experiments.md"))
        for line in block.splitlines()
        if line.startswith(f"$ netspec {program} ")
    ]


TRAINS = _commands("train")


def _option(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == name]


@pytest.mark.parametrize("argv", [a for _, a in TRAINS], ids=[" ".join(a[1:]) for _, a in TRAINS])
def test_each_training_command_checks_with_its_overrides(argv: list[str]) -> None:
    # The spec the command trains, with the model and `--set` values it gives, checks:
    # the experiments' commands stay runnable as the specs change (without rerunning them).
    spec = ROOT / argv[1]
    program = netspec.load(spec, overrides=_option(argv, "--set"))
    for model in _option(argv, "--model"):
        assert program.train(model) is not None


@pytest.mark.parametrize("index", sorted({index for index, _ in _commands("compare")}))
def test_each_compare_command_compares_runs_its_block_trains(index: int) -> None:
    trained = {out for i, argv in TRAINS if i == index for out in _option(argv, "--out")}
    for i, argv in _commands("compare"):
        if i == index:
            runs = [arg for arg in argv[1:] if arg.startswith("runs/")]
            assert runs and set(runs) <= trained, (runs, trained)


def test_the_pictures_the_doc_shows_are_there_and_small() -> None:
    doc = (ROOT / "docs" / "experiments.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\((images/[^)]+\.png)\)", doc)
    assert "images/optimizers.png" in pictures
    for picture in pictures:
        path = ROOT / "docs" / picture
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), picture
        assert path.stat().st_size < 150_000, f"{picture} is {path.stat().st_size} bytes"
