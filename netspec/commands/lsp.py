"""`netspec lsp`: the language server for .net files, on stdio."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = (
    "Run the netspec language server on stdin and stdout (the Language Server Protocol): "
    "diagnostics as you type, hover with shapes, parameters and FLOPs, go to definition, "
    "references, completion, document symbols, formatting and quick fixes. Editors start "
    "it themselves; see docs/editors.md. Needs the lsp extra: pip install netspec[lsp]."
)


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `netspec lsp` with the command-line parser."""
    # Imported here: the parser module imports this one.
    from netspec._cli_parser import _command

    parser = _command(commands, "lsp", "run the language server (stdio) for editors", DESCRIPTION)
    parser.add_argument(
        "--stdio",
        action="store_true",
        help="talk over stdin and stdout (the default and only transport; accepted because "
        "many editors pass it)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Serve until the client says exit; 0 after a clean shutdown."""
    from netspec._cli_parser import EXIT_USAGE

    try:
        from netspec.lsp.server import create_server
    except ImportError as error:
        print(
            f"netspec lsp: error: the language server needs pygls and lsprotocol "
            f"({error.name} is not installed): pip install netspec[lsp]",
            file=sys.stderr,
        )
        return EXIT_USAGE
    server = create_server()
    server.start_io(sys.stdin.buffer, sys.stdout.buffer)
    return 0
