"""Checks on the raw text of a spec that no grammar rule sees."""

from __future__ import annotations

import unicodedata

from netspec.diagnostics import BIDI_CONTROLS, Diagnostic, Diagnostics
from netspec.ir.graph import Span


def warn_bidi_controls(text: str, file: str, diagnostics: Diagnostics) -> None:
    """One W005 warning per bidirectional control character in ``text``."""
    if BIDI_CONTROLS.search(text) is None:  # the common case: one scan, nothing found
        return
    for number, line in enumerate(text.splitlines(), start=1):
        for match in BIDI_CONTROLS.finditer(line):
            char = match.group()
            column = match.start() + 1
            diagnostics.warning(
                "W005",
                f"invisible bidirectional control character U+{ord(char):04X} "
                f"({unicodedata.name(char, 'unnamed').lower()})",
                Span.model_construct(
                    file=file, line=number, column=column, end_line=number, end_column=column + 1
                ),
                label="here",
                notes=[
                    "it can make the line display in a different order than netspec "
                    "reads it (a 'Trojan Source' risk)"
                ],
                help=["remove it; netspec never needs it"],
            )


def decode(data: bytes, file: str) -> tuple[str, Diagnostic | None]:
    """The text of a spec file, and an E008 diagnostic at the first byte that is not UTF-8.

    The text returned with a problem has U+FFFD in place of each bad byte, so the
    diagnostic renders with its source line like any other.
    """
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        line_start = data.rfind(b"\n", 0, error.start) + 1
        column = len(data[line_start : error.start].decode("utf-8")) + 1
        span = Span.model_construct(
            file=file, line=line, column=column, end_line=line, end_column=column + 1
        )
        diagnostics = Diagnostics()
        diagnostics.error(
            "E008",
            f"the file is not UTF-8 text: byte 0x{data[error.start]:02x} cannot be decoded "
            f"({error.reason})",
            span,
            label="not UTF-8",
            notes=["netspec reads spec files as UTF-8"],
            help=["save the file as UTF-8 (most editors offer it under 'encoding')"],
        )
        return data.decode("utf-8", errors="replace"), diagnostics.items[0]
