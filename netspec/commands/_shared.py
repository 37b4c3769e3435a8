"""What the commands share: reading a spec for a command, choosing its model, writing
an output, and the exit code an error gives."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from netspec._cli_parser import EXIT_OK, EXIT_SPEC, EXIT_USAGE
from netspec.check.checker import DEFAULT_MAX_PARAMS
from netspec.errors import NetspecError, UnknownNameError
from netspec.frontend import Analysis, analyze_source, spaces_message
from netspec.ir import CheckedModel, Program


class UsageError(NetspecError):
    """The command line asks for something the spec does not have (exit code 2)."""


def exit_code(error: NetspecError) -> int:
    """The exit code of a command that stopped on ``error``."""
    return EXIT_USAGE if isinstance(error, UsageError) else EXIT_SPEC


def find_model(program: Program, name: str | None) -> CheckedModel:
    """``program.model(name)``, with a UsageError where the spec has no such model."""
    try:
        return program.model(name)
    except UnknownNameError as error:
        raise UsageError(error.message) from None


def read_analysis(path: str, max_params: int, sets: Sequence[str] = ()) -> Analysis | None:
    """The analysis of the spec at ``path`` with ``sets`` applied, or None (said on
    standard error) where the file cannot be read."""
    try:
        return analyze_source(Path(path), max_params=max_params, overrides=sets)
    except NetspecError as error:
        print(f"netspec: error: {error}", file=sys.stderr)
        return None


def use_color(choice: str) -> bool:
    """Whether diagnostics are coloured: ``--color always|never|auto``."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    return sys.stderr.isatty()


def choose_model(program: Program, name: str | None) -> CheckedModel:
    """The model ``--model`` names, or the only one; a UsageError saying how to choose."""
    if name is None and len(program.models) != 1:
        names = ", ".join(m.name for m in program.models)
        if not names:
            raise UsageError("the spec defines no model")
        raise UsageError(
            f"the spec has {len(program.models)} models ({names}); choose one with --model NAME"
        )
    return find_model(program, name)


def write_output(command: str, output: str | None, text: str, what: str) -> int:
    """``text`` to standard output, or atomically to ``output`` with a line saying so."""
    from netspec.weights import atomic_write_bytes

    if output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        atomic_write_bytes(output, text.encode("utf-8"))
    except OSError as error:
        message = f"cannot write {output}: {error.strerror or error}"
        print(f"netspec {command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {output} ({what})")
    return EXIT_OK


def concrete_analysis(path: str, sets: Sequence[str], command: str) -> tuple[int, Analysis | None]:
    """(exit code, analysis): code 0 with an analysis whose program has every value fixed,
    or the code to exit with (a spec with errors, or with search spaces, is refused)."""
    analysis = read_analysis(path, DEFAULT_MAX_PARAMS, sets)
    if analysis is None:
        return EXIT_USAGE, None
    if analysis.program is None:
        print(analysis.render(color=use_color("auto")), file=sys.stderr)
        return EXIT_SPEC, None
    if analysis.spaces:
        who = f"netspec {command}" if command else "netspec"
        print(f"{who}: error: {spaces_message(analysis.spaces)}", file=sys.stderr)
        return EXIT_SPEC, None
    return EXIT_OK, analysis


def read_program(
    path: str, sets: Sequence[str] = (), command: str = ""
) -> tuple[int, Program | None]:
    """(exit code, program): code 0 with the program (every value fixed), or the code to
    exit with."""
    code, analysis = concrete_analysis(path, sets, command)
    return code, analysis.program if analysis is not None else None
