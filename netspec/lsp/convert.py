"""Between netspec's spans (lines and columns from 1, in characters) and the protocol's
ranges (from 0, in the code units of the position encoding agreed at initialisation:
UTF-16 by default, UTF-8 or UTF-32 where the client prefers them), and between file
names and URIs."""

from __future__ import annotations

import os

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from netspec.ir.graph import Span


def uri_of(path: str) -> str:
    """The file URI of a path as spans name it (relative paths from the current folder)."""
    return from_fs_path(os.path.abspath(path)) or path


def path_of(uri: str) -> str:
    """The path a document's spans carry: its file system path, else the URI itself."""
    return to_fs_path(uri) or uri


# The agreed position encoding. A process serves one client (`netspec lsp` on stdio),
# so the server sets it once, when the client has initialised.
_ENCODING = ["utf-16"]


def use_encoding(name: str) -> None:
    """Count columns in ``name``'s code units from now on: utf-8, utf-16 or utf-32."""
    _ENCODING[0] = name


def _units(text: str) -> int:
    """The length of ``text`` in code units of the agreed encoding."""
    if _ENCODING[0] == "utf-8":
        return len(text.encode("utf-8"))
    if _ENCODING[0] == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def position(lines: list[str], line: int, column: int) -> types.Position:
    """A 1-based (line, column in characters) as a protocol position."""
    text = lines[line - 1] if 1 <= line <= len(lines) else ""
    return types.Position(line=max(line - 1, 0), character=_units(text[: max(column - 1, 0)]))


def range_of(span: Span, lines: list[str]) -> types.Range:
    return types.Range(
        start=position(lines, span.line, span.column),
        end=position(lines, span.end_line, span.end_column),
    )


def from_position(lines: list[str], where: types.Position) -> tuple[int, int]:
    """A protocol position as 1-based (line, column in characters)."""
    text = lines[where.line] if where.line < len(lines) else ""
    units = 0
    for index, char in enumerate(text):
        if units >= where.character:
            return where.line + 1, index + 1
        units += _units(char)
    return where.line + 1, len(text) + 1


def lines_of(text: str) -> list[str]:
    """The lines of a text as an editor counts them (a final newline opens an empty one)."""
    return text.split("\n")
