"""`netspec fmt`: rewrite .net files in the canonical layout (see netspec.syntax.format).

Imports neither torch nor jax: it runs in editors' save hooks and in CI, where a
framework's start-up time would be felt on every file.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

from netspec.diagnostics import Diagnostic, render_all
from netspec.syntax.format import WIDTH, FormatError, format_source
from netspec.syntax.text import decode

STDIN = "-"


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `fmt` subcommand."""
    from netspec._cli_parser import _HelpFormatter  # that module imports this one

    parser = commands.add_parser(
        "fmt",
        formatter_class=_HelpFormatter,
        help="rewrite spec files in the canonical layout",
        description=(
            "Rewrite .net files in netspec's one layout: four-space indentation, spaces "
            f"around '=' and '->', train keys in one column, chains wrapped at {WIDTH} "
            "columns, comments kept where they are. Only files that change are written "
            "(atomically); a file with a syntax error is reported as `netspec check` "
            "reports it and left alone. A folder stands for the .net files under it; '-' "
            "formats standard input to standard output. Exit status: 0 done (or nothing "
            "to change), 1 a file would change (--check, --diff) or has a syntax error, "
            "2 usage errors."
        ),
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="the .net files or folders to format, or '-'"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list the files that would change and exit 1 if any would",
    )
    parser.add_argument(
        "--diff",
        action="store_true",
        help="write nothing; print a unified diff of the changes and exit 1 if any",
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour syntax errors; auto: when stderr is a terminal",
    )
    return parser


@dataclass
class _Outcome:
    problem: str | None = None  # "spec" (a syntax or encoding error) or "usage"
    changed: bool = False


def run(args: argparse.Namespace) -> int:
    """Format every file named in ``args``; the worst exit status of them all."""
    from netspec._cli_parser import EXIT_OK, EXIT_SPEC, EXIT_USAGE

    color = args.color == "always" or (args.color == "auto" and sys.stderr.isatty())
    worst, changed, unchanged, failed = EXIT_OK, 0, 0, 0
    for name in _expand(args.files):
        outcome = _format_one(name, check=args.check, diff=args.diff, color=color)
        if outcome.problem is not None:
            worst = max(worst, EXIT_USAGE if outcome.problem == "usage" else EXIT_SPEC)
            failed += 1
            continue
        changed += outcome.changed
        unchanged += not outcome.changed
    if (args.check or args.diff) and changed:
        worst = max(worst, EXIT_SPEC)
    if STDIN not in args.files:
        verb = "would be reformatted" if args.check or args.diff else "reformatted"
        summary = f"{_files(changed)} {verb}, {_files(unchanged)} already formatted"
        if failed:
            summary += f", {_files(failed)} not formatted (see above)"
        print(summary, file=sys.stderr)
    return worst


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"


def _expand(names: list[str]) -> list[str]:
    """The files named: a folder stands for the .net files under it, in name order."""
    files: list[str] = []
    for name in names:
        path = Path(name)
        if name != STDIN and path.is_dir():
            files.extend(str(p) for p in sorted(path.rglob("*.net")) if p.is_file())
        else:
            files.append(name)
    return files


def _format_one(name: str, *, check: bool, diff: bool, color: bool) -> _Outcome:
    if name == STDIN:
        data, file = sys.stdin.buffer.read(), "<stdin>"
    else:
        file = name
        try:
            data = Path(name).read_bytes()
        except FileNotFoundError:
            return _usage(f"no such spec file: {name}")
        except IsADirectoryError:
            return _usage(f"{name} is a directory, not a spec file")
        except OSError as error:
            return _usage(f"cannot read {name}: {error.strerror}")
    text, problem = decode(data, file)
    if problem is not None:
        return _report([problem], file, text, color)
    try:
        formatted = format_source(text, file)
    except FormatError as error:
        return _report(list(error.diagnostics), file, text, color)
    changed = formatted.encode("utf-8") != data
    if diff and changed:
        sys.stdout.writelines(
            difflib.unified_diff(
                text.splitlines(keepends=True), formatted.splitlines(keepends=True), file, file
            )
        )
    if name == STDIN:
        if not check and not diff:
            sys.stdout.write(formatted)
    elif check and changed:
        print(f"would reformat {file}")
    elif changed and not diff:
        # Imported here: the weights module is the project's one atomic writer.
        from netspec.weights import atomic_write_bytes

        atomic_write_bytes(name, formatted.encode("utf-8"))
        print(f"reformatted {file}", file=sys.stderr)
    return _Outcome(changed=changed)


def _usage(message: str) -> _Outcome:
    print(f"netspec: error: {message}", file=sys.stderr)
    return _Outcome("usage")


def _report(diagnostics: list[Diagnostic], file: str, text: str, color: bool) -> _Outcome:
    print(render_all(diagnostics, {file: text}, color=color), file=sys.stderr)
    return _Outcome("spec")
