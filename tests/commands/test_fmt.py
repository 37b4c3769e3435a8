"""`netspec fmt`: rewrites only what changes, --check and --diff for CI, '-' for editors,
and a file with a syntax error reported as `netspec check` reports it and never written."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netspec.cli import main
from netspec.syntax.format import format_source

ROOT = Path(__file__).resolve().parents[2]
MESSY = "netspec 1\nmodel m(x:[4]){dense(2)->relu   # two\n}\n"
TIDY = "netspec 1\n\nmodel m(x: [4]) {\n    dense(2) -> relu  # two\n}\n"
BROKEN = "model m(x: [4]) {\n    dense(2 -> relu\n}\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"messy": tmp_path / "messy.net", "tidy": tmp_path / "tidy.net"}
    paths["messy"].write_text(MESSY)
    paths["tidy"].write_text(TIDY)
    return paths


def test_fmt_rewrites_the_files_that_change_and_only_those(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tidy_inode = os.stat(files["tidy"]).st_ino
    assert main(["fmt", str(files["messy"]), str(files["tidy"])]) == 0
    assert files["messy"].read_text() == TIDY
    # An atomic write replaces the file; an untouched one keeps its inode.
    assert os.stat(files["tidy"]).st_ino == tidy_inode
    err = capsys.readouterr().err
    assert f"reformatted {files['messy']}" in err
    assert "1 file reformatted, 1 file already formatted" in err
    assert main(["fmt", str(files["messy"])]) == 0  # a second run changes nothing
    assert files["messy"].read_text() == TIDY


def test_check_lists_the_files_that_would_change_and_writes_nothing(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fmt", "--check", str(files["messy"]), str(files["tidy"])]) == 1
    assert capsys.readouterr().out.splitlines() == [f"would reformat {files['messy']}"]
    assert files["messy"].read_text() == MESSY
    assert main(["fmt", "--check", str(files["tidy"])]) == 0


def test_diff_prints_a_unified_diff_and_writes_nothing(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fmt", "--diff", str(files["messy"])]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"--- {files['messy']}\n+++ {files['messy']}\n@@ ")
    assert "-model m(x:[4]){dense(2)->relu   # two\n" in out
    assert "+    dense(2) -> relu  # two\n" in out
    assert files["messy"].read_text() == MESSY


def test_a_syntax_error_is_reported_as_check_reports_it_and_never_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.net"
    broken.write_text(BROKEN)
    assert main(["check", "--color", "never", str(broken)]) == 1
    checked = capsys.readouterr().err
    assert main(["fmt", "--color", "never", str(broken)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(checked)
    assert f"{broken}:2:14: error[E001]" in err
    assert broken.read_text() == BROKEN


def test_a_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fmt", "no_such_spec.net"]) == 2
    assert "no such spec file: no_such_spec.net" in capsys.readouterr().err


def test_dash_formats_standard_input_to_standard_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MESSY.encode())))
    assert main(["fmt", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.out == TIDY
    assert captured.err == ""


def test_every_shipped_spec_passes_fmt_check(capsys: pytest.CaptureFixture[str]) -> None:
    folders = [str(ROOT / "specs"), str(ROOT / "netspec" / "std")]
    assert main(["fmt", "--check", *folders]) == 0, capsys.readouterr().out
    count = len(list((ROOT / "specs").rglob("*.net"))) + len(
        list((ROOT / "netspec" / "std").glob("*.net"))
    )
    assert (
        f"0 files would be reformatted, {count} files already formatted" in capsys.readouterr().err
    )


def test_fmt_imports_neither_torch_nor_jax(files: dict[str, Path]) -> None:
    code = (
        "import sys, netspec.cli; "
        f"code = netspec.cli.main(['fmt', {str(files['messy'])!r}]); "
        "print(code, 'torch' in sys.modules, 'jax' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "False", "False"]
    assert files["messy"].read_text() == format_source(MESSY)
