"""The command line's help: every command described, every option explained with its
default, and a spec of several models answered with how to choose one.

The completeness test walks the parser itself, so a new option without help fails it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from netspec.cli import EXIT_USAGE, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
GATES = str(ROOT / "specs" / "logic_gates.net")
GATE_MODELS = ("and_gate", "nand_gate", "or_gate", "xor_gate")


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _own_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._VersionAction)
    ]


def test_every_command_has_a_summary_and_a_description() -> None:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    summaries = {action.dest: action.help for action in subparsers._choices_actions}
    assert set(summaries) == set(subparsers.choices)
    for name, command in subparsers.choices.items():
        assert summaries[name], f"`netspec --help` lists {name} without a summary"
        assert command.description, f"`netspec {name} --help` has no description"


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_option_has_help_that_states_its_default(name: str) -> None:
    command = _commands()[name]
    shown = _flat(command.format_help())
    for action in _own_actions(command):
        where = f"netspec {name} {'/'.join(action.option_strings) or action.dest}"
        assert action.help, f"{where} has no help text"
        if not action.option_strings or isinstance(action, argparse._StoreTrueAction):
            continue  # positionals have no default; a flag's default is its absence
        if action.required:
            assert "(required)" in action.help, where
        elif action.default is None:
            # The default comes from elsewhere (the spec, the environment): say where.
            assert "(default: " in action.help, f"{where} does not say what its default is"
        else:
            assert _flat(f"{action.help} (default: {action.default})") in shown, where


def test_ir_takes_a_model_and_compile_requires_a_backend() -> None:
    commands = _commands()
    assert "--model" in commands["ir"]._option_string_actions
    backend = commands["compile"]._option_string_actions["--backend"]
    assert backend.required
    assert "--backend {torch,jax,numpy}" in commands["compile"].format_usage()
    assert "[--backend" not in commands["compile"].format_usage()


@pytest.mark.parametrize(
    "argv",
    [
        ["train", GATES],
        ["compile", GATES, "--backend", "torch"],
        ["eval", GATES, "--weights", "absent.safetensors"],
    ],
    ids=["train", "compile", "eval"],
)
def test_several_models_ask_for_model_by_name(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "the spec has 4 models" in err
    assert "choose one with --model NAME" in err
    for model in GATE_MODELS:
        assert model in err


def test_ir_of_an_unknown_model_lists_the_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ir", GATES, "--model", "nor_gate"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "netspec ir: error: no model named 'nor_gate'" in err
    assert all(model in err for model in GATE_MODELS)
