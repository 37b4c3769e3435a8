"""`netspec graph`: where it writes, the formats it picks, and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netspec.cli import EXIT_SPEC, EXIT_USAGE, main
from tests.conftest import ROOT
from tests.test_extras import _without

RESIDUAL = str(ROOT / "specs" / "mnist_residual.net")
GATES = str(ROOT / "specs" / "logic_gates.net")


def test_without_output_it_writes_model_svg_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["graph", RESIDUAL]) == 0
    assert (tmp_path / "mnist_residual.svg").read_text().startswith("<?xml")
    out = capsys.readouterr().out
    assert out == (
        "wrote mnist_residual.svg (SVG of model mnist_residual: 18 nodes, "
        "2 block and repeat boxes)\n"
    )


@pytest.mark.parametrize("suffix", [".svg", ".dot", ".gv", ".mmd", ".png", ".pdf"])
def test_the_suffix_picks_the_format(tmp_path: Path, suffix: str) -> None:
    if suffix in (".png", ".pdf"):
        pytest.importorskip("matplotlib", reason="PNG and PDF need matplotlib (the train extra)")
    target = tmp_path / f"net{suffix}"
    assert main(["graph", GATES, "--model", "xor_gate", "-o", str(target)]) == 0
    head = target.read_bytes()[:12]
    expected = {
        ".svg": b"<?xml",
        ".dot": b"digraph",
        ".gv": b"digraph",
        ".mmd": b"flowchart",
        ".png": b"\x89PNG",
        ".pdf": b"%PDF",
    }[suffix]
    assert head.startswith(expected)


def test_standard_output_takes_a_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", RESIDUAL, "-o", "-", "--format", "dot"]) == 0
    assert capsys.readouterr().out.startswith('digraph "mnist_residual" {')


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [GATES],
            "netspec graph: error: the spec has 4 models (and_gate, nand_gate, or_gate, "
            "xor_gate); choose one with --model NAME",
        ),
        (
            [GATES, "--model", "nor_gate"],
            "netspec graph: error: no model named 'nor_gate'; the program has: and_gate, "
            "nand_gate, or_gate, xor_gate",
        ),
        (
            [RESIDUAL, "-o", "net.jpg"],
            "netspec graph: error: cannot tell the picture's format from 'net.jpg' ('.jpg'): "
            "expected a file name ending in .svg, .png, .pdf, .dot, .gv, .mmd",
        ),
        (
            [RESIDUAL, "-o", "net"],
            "netspec graph: error: cannot tell the picture's format from 'net' (no suffix): "
            "expected a file name ending in .svg, .png, .pdf, .dot, .gv, .mmd",
        ),
        (
            [RESIDUAL, "-o", "net.png", "--format", "svg"],
            "netspec graph: error: --format svg does not match the file name 'net.png'",
        ),
    ],
    ids=["several-models", "unknown-model", "unknown-suffix", "no-suffix", "format-mismatch"],
)
def test_bad_requests_are_usage_errors(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["graph", *argv]) == EXIT_USAGE
    assert capsys.readouterr().err.strip() == message
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_path_is_an_error_and_leaves_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    target = blocker / "net.svg"
    assert main(["graph", RESIDUAL, "-o", str(target)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"netspec graph: error: cannot write {target}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_spec_with_errors_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.net"
    spec.write_text("netspec 1\nmodel m(x: [16, 5, 5]) { dense(10) }\n")
    assert main(["graph", str(spec), "-o", str(tmp_path / "m.svg")]) == EXIT_SPEC
    assert "error[E012]" in capsys.readouterr().err
    assert not (tmp_path / "m.svg").exists()


def test_graph_imports_no_framework(tmp_path: Path) -> None:
    code = (
        "import sys, netspec.cli; "
        f"code = netspec.cli.main(['graph', {RESIDUAL!r}, '-o', {str(tmp_path / 'a.svg')!r}]); "
        f"code += netspec.cli.main(['graph', {RESIDUAL!r}, '-o', {str(tmp_path / 'a.dot')!r}]); "
        "print(code, 'torch' in sys.modules, 'jax' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "0 False False"


def test_png_without_matplotlib_says_which_extra_to_install(tmp_path: Path) -> None:
    env = _without(tmp_path, {"matplotlib"})
    base = [sys.executable, "-m", "netspec", "graph", RESIDUAL, "-o"]
    png = subprocess.run(
        [*base, str(tmp_path / "m.png")], capture_output=True, text=True, env=env, timeout=120
    )
    assert png.returncode == EXIT_USAGE
    assert png.stderr.strip() == (
        "netspec graph: error: PNG output needs matplotlib, which is not installed; install "
        "the train extra (pip install 'netspec[train]') or matplotlib, or write .svg, .dot "
        "or .mmd, which need nothing"
    )
    assert not (tmp_path / "m.png").exists()
    svg = subprocess.run(
        [*base, str(tmp_path / "m.svg")], capture_output=True, text=True, env=env, timeout=120
    )
    assert svg.returncode == 0, svg.stderr
    assert (tmp_path / "m.svg").exists()
