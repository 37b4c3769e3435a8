"""`--set` and search spaces on the command line: every command that reads a spec takes
--set; check and summary show a spec's spaces; the commands that need every value fixed
refuse a spec with spaces; a trained run records its overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netspec._cli_parser import SET_COMMANDS, build_parser
from netspec.cli import EXIT_OK, EXIT_SPEC, main

SPACES = """\
let width = int_uniform(16, 64)
model mlp(x: [64]) {
    dense(width, activation = choice(relu, tanh)) -> dropout(uniform(0.1, 0.5)) -> dense(10)
}
train mlp {
    data digits(flatten = true, limit = 200, validation = 0.2)
    loss softmax_cross_entropy
    optimizer adam(lr = log_uniform(1e-5, 1e-2))
    batch_size choice(32, 64, 128)
    epochs 2
}
"""
FIXED = [
    "let.width=16",
    "dense_1.activation=relu",
    "dropout_1.p=0.2",
    "optimizer.lr=1e-3",
    "batch_size=50",
]


@pytest.fixture
def spec(tmp_path: Path) -> str:
    path = tmp_path / "mlp.net"
    path.write_text(SPACES)
    return str(path)


def sets(*pairs: str) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


# The arguments each command needs besides the spec to get as far as reading it.
NEEDS: dict[str, list[str]] = {
    "eval": ["--weights", "nowhere"],
    "predict": ["--input", "1"],
    "compile": ["--backend", "numpy"],
    "export": ["--format", "onnx"],
}


@pytest.mark.parametrize("command", SET_COMMANDS)
def test_every_command_that_reads_a_spec_applies_set(
    command: str, spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if command == "export":
        pytest.importorskip("onnx", reason="export needs the onnx extra")
    args = [command, spec, *NEEDS.get(command, []), *sets("dense_1.units=abc")]
    assert main(args) == EXIT_SPEC
    assert "<overrides>:1:21: error[E006]: expected a positive integer, found the name 'abc'" in (
        capsys.readouterr().err
    )


def test_the_commands_that_read_a_spec_are_those_with_set() -> None:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    with_set = {name for name, c in commands.items() if "--set" in c._option_string_actions}
    # fmt lays out the text as written: an override has nothing to change there.
    reading = {
        name
        for name, c in commands.items()
        if any(a.dest in ("file", "files") for a in c._actions) and name != "fmt"
    }
    assert set(SET_COMMANDS) <= with_set
    missing = sorted(reading - with_set)
    assert not missing, (
        f"{', '.join(missing)} read a spec but take no --set: call "
        "netspec._cli_parser.add_set_option(parser) and pass args.set on as the overrides"
    )


def test_check_counts_the_spaces_and_lists_them_in_json(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", spec]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"{spec}: ok (1 model, 5 search spaces)"
    assert main(["check", "--format", "json", spec]) == EXIT_OK
    (report,) = json.loads(capsys.readouterr().out)
    assert [s["path"] for s in report["spaces"]] == [
        "let.width",
        "dense_1.activation",
        "dropout_1.p",
        "optimizer.lr",
        "batch_size",
    ]
    assert report["spaces"][3]["space"] == {"kind": "log_uniform", "low": 1e-5, "high": 1e-2}


def test_check_with_a_bad_override_draws_it(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--color", "never", spec, *sets("dense_1.unitz=3")]) == EXIT_SPEC
    err = capsys.readouterr().err
    assert "<overrides>:1:15: error[E026]: dense has no argument 'unitz'" in err
    assert "1 | --set dense_1.unitz=3\n  |               ^^^^^\n" in err
    assert "did you mean 'units'" in err


def test_summary_shows_the_spaces_and_the_figures_at_their_first_values(
    spec: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summary", spec]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("search spaces (5): the figures below are at each one's first value")
    assert "  let.width           int_uniform(16, 64)      " in out
    assert "dense_1       dense(16)     [16]     1,040" in out
    # An override changes the width, and the figures follow.
    assert main(["summary", spec, *sets("let.width=32")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "search spaces (4)" in out and "dense(32)" in out and "2,080" in out


@pytest.mark.parametrize("command", [["train"], ["ir"], ["compile", "--backend", "numpy"]])
def test_commands_that_need_fixed_values_refuse_spaces(
    spec: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command[0], spec, *command[1:]]) == EXIT_SPEC
    err = capsys.readouterr().err
    assert err.startswith(f"netspec {command[0]}: error: the spec has search spaces (")
    assert f"let.width at {spec}:1:13, dense_1.activation at {spec}:3:31, " in err
    assert "and 1 more): use `netspec sweep` to search them, or fix them with --set" in err


def test_train_with_overrides_records_them_and_the_resolved_settings(
    spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["train", spec, "--quiet", "--out", str(out), *sets(*FIXED, "epochs=1")]
    assert main(args) == EXIT_OK, capsys.readouterr().err
    record = json.loads((out / "run.json").read_text())
    assert record["overrides"] == [*FIXED, "epochs=1"]
    assert record["train"]["epochs"] == 1 and record["train"]["batch_size"] == 50
    assert record["train"]["optimizer"]["lr"] == 1e-3
    ir = json.loads((out / "ir.json").read_text())
    assert ir["overrides"] == record["overrides"]
    assert ir["models"][0]["nodes"][1]["output"]["shape"] == [16]


def test_the_library_train_takes_overrides(spec: str, tmp_path: Path) -> None:
    import netspec

    result = netspec.train(
        spec, overrides=[*FIXED, "epochs=1"], out=str(tmp_path / "run"), progress=False
    )
    assert json.loads((result.run_dir / "run.json").read_text())["overrides"][-1] == "epochs=1"
    with pytest.raises(netspec.NetspecError, match="overrides apply to a spec's text"):
        netspec.train(netspec.load(spec, overrides=FIXED), overrides=["epochs=1"])
