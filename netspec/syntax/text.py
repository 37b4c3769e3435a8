"""Checks on the raw text of a spec that no grammar rule sees."""

from __future__ import annotations

import unicodedata

from netspec.diagnostics import BIDI_CONTROLS, Diagnostics
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
