"""Formatting: the whole document in the layout of `netspec fmt`
(:func:`netspec.syntax.format.format_source`), as one edit; none for text that is
already formatted, or that does not parse (its syntax error is among the diagnostics)."""

from __future__ import annotations

from lsprotocol import types

from netspec.lsp.convert import lines_of, position
from netspec.lsp.documents import Document
from netspec.syntax.format import FormatError, format_source


def formatting_edits(document: Document) -> list[types.TextEdit]:
    try:
        formatted = format_source(document.text, document.path)
    except FormatError:
        return []
    if formatted == document.text:
        return []
    lines = lines_of(document.text)
    end = position(lines, len(lines), len(lines[-1]) + 1)
    whole = types.Range(start=types.Position(line=0, character=0), end=end)
    return [types.TextEdit(range=whole, new_text=formatted)]
