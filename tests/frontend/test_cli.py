"""The `netspec` command line: exit codes, JSON output, summary and schema.

Run in-process through ``netspec.cli.main`` (fast); one subprocess test checks that
`netspec check` imports no backend framework.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netspec.cli import EXIT_OK, EXIT_SPEC, EXIT_USAGE, main

ROOT = Path(__file__).resolve().parents[2]
LENET = str(ROOT / "specs" / "lenet5.net")

BAD = """\
model m(x: [1, 28, 28]) {
    conv2d(16, 3) -> dense(10)
    flaten
}
"""

WARNS = """\
model m(x: [4]) {
    dense(4) -> dense(4)
}
"""


@pytest.fixture
def bad(tmp_path: Path) -> str:
    path = tmp_path / "bad.net"
    path.write_text(BAD)
    return str(path)


@pytest.fixture
def warns(tmp_path: Path) -> str:
    path = tmp_path / "warns.net"
    path.write_text(WARNS)
    return str(path)


def test_check_clean_spec_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", LENET]) == EXIT_OK == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{LENET}: ok (1 model)"
    assert err == ""


def test_check_warnings_only_exits_0_and_prints_them(
    warns: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--color", "never", warns]) == 0
    out, err = capsys.readouterr()
    assert f"{warns}:2:17: warning[W001]" in err
    assert "ok (1 model)" in out


def test_check_spec_errors_exit_1_with_rendered_diagnostics(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--color", "never", bad]) == EXIT_SPEC == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{bad}:2:22: error[E012]: dense needs a vector per sample" in err
    assert "2 |     conv2d(16, 3) -> dense(10)" in err
    assert "^^^^^^^^^" in err
    assert "help: insert flatten" in err
    assert f"{bad}:3:5: error[E002]: unknown layer or block 'flaten'" in err
    assert err.rstrip().endswith("2 errors")


def test_check_color_always_uses_ansi_codes(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", "--color", "always", bad])
    assert "\x1b[31m" in capsys.readouterr().err


def test_check_several_files_exits_with_the_worst(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", LENET, bad]) == 1
    assert "lenet5.net: ok" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--bogus", LENET],
        ["check"],
        ["frobnicate", LENET],
        [],
        ["check", "--format", "yaml", LENET],
        ["check", "--max-params", "-3", LENET],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == EXIT_USAGE == 2
    assert "usage: netspec" in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing.net")
    assert main(["check", missing]) == 2
    assert f"no such spec file: {missing}" in capsys.readouterr().err


def test_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_missing_file_beside_a_bad_one_still_exits_2(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", bad, str(tmp_path / "missing.net")]) == 2


def test_check_json_format(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--format", "json", LENET, bad]) == 1
    reports = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in reports] == [LENET, bad]
    assert reports[0] == {"file": LENET, "ok": True, "diagnostics": [], "spaces": []}
    assert reports[1]["ok"] is False
    first, second = reports[1]["diagnostics"]
    assert first["code"] == "E012" and first["severity"] == "error"
    assert first["span"] == {
        "file": bad,
        "line": 2,
        "column": 22,
        "end_line": 2,
        "end_column": 31,
    }
    assert any("insert flatten" in h for h in first["help"])
    assert second["code"] == "E002" and second["help"] == ["did you mean 'flatten'?"]


def test_check_max_params(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--max-params", "1_000", LENET]) == 1
    assert "error[E021]" in capsys.readouterr().err


def test_summary_prints_the_table_and_totals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", LENET]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model lenet5")
    assert "conv2d(6, 5, padding = 2)" in out
    assert "parameters        61,706" in out
    assert "FLOPs per sample" in out
    assert "parameter memory  246.82 kB (float32)" in out


def test_summary_float64_and_model_choice(capsys: pytest.CaptureFixture[str]) -> None:
    gates = str(ROOT / "specs" / "logic_gates.net")
    assert main(["summary", "--model", "xor_gate", "--dtype", "float64", gates]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model xor_gate") and "model and_gate" not in out
    assert "(float64)" in out
    assert main(["summary", "--model", "nope", gates]) == 2
    assert "it has: and_gate, nand_gate, or_gate, xor_gate" in capsys.readouterr().err


def test_summary_of_a_bad_spec_exits_1(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", bad]) == 1
    assert "error[E012]" in capsys.readouterr().err


def test_schema_prints_the_program_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Program"
    assert schema["type"] == "object"
    assert {"models", "trains", "source_map"} <= set(schema["properties"])
    assert "CheckedModel" in schema["$defs"]
    assert schema["additionalProperties"] is False


def test_ir_prints_a_program_that_validates(capsys: pytest.CaptureFixture[str]) -> None:
    from netspec.ir import Program

    assert main(["ir", LENET]) == 0
    program = Program.model_validate_json(capsys.readouterr().out)
    assert program.model().name == "lenet5"


def test_check_does_not_import_torch_or_jax() -> None:
    code = (
        "import sys, netspec.cli; "
        "code = netspec.cli.main(['check', 'specs/lenet5.net']); "
        "print(code, 'torch' in sys.modules, 'jax' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["specs/lenet5.net: ok (1 model)", "0 False False"]
