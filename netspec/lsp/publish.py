"""netspec diagnostics as protocol diagnostics, grouped by the file they are in.

The message, code, range, notes and help are those of `netspec check`: each comes from
the same :class:`netspec.diagnostics.Diagnostic`. Labels and block uses become related
information. A diagnostic in an imported file is published for that file, and also at
the import that reads it in the open file, with the place in the imported file as
related information.
"""

from __future__ import annotations

import os
import re

from lsprotocol import types

from netspec.diagnostics import Diagnostic
from netspec.ir.graph import Span
from netspec.lsp.convert import lines_of, range_of, uri_of
from netspec.lsp.documents import Document

_IMPORTED_AT = re.compile(r"imported at (.+):(\d+):(\d+)$")


def message_of(diagnostic: Diagnostic) -> str:
    """The message with its label, notes and help lines, as `netspec check` prints them."""
    lines = [diagnostic.message]
    if diagnostic.label:
        lines[0] += f" ({diagnostic.label})"
    lines += [f"note: {note}" for note in diagnostic.notes]
    lines += [f"help: {text}" for text in diagnostic.help]
    return "\n".join(lines)


def convert(diagnostic: Diagnostic, sources: dict[str, str]) -> types.Diagnostic:
    """One diagnostic; its span's file must be in ``sources``."""
    span = diagnostic.span
    assert span is not None
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(
                uri=uri_of(mark.file), range=range_of(mark, lines_of(sources.get(mark.file, "")))
            ),
            message=text,
        )
        for mark, text in [
            *((label.span, label.message) for label in diagnostic.labels),
            *((use.span, use.message) for use in diagnostic.uses),
        ]
    ]
    return types.Diagnostic(
        range=range_of(span, lines_of(sources.get(span.file, ""))),
        message=message_of(diagnostic),
        severity=types.DiagnosticSeverity.Error
        if diagnostic.is_error
        else types.DiagnosticSeverity.Warning,
        code=diagnostic.code,
        source="netspec",
        related_information=related or None,
    )


def by_uri(document: Document) -> dict[str, list[types.Diagnostic]]:
    """The protocol diagnostics of a document's analysis, by the URI of the file each is
    in; the document's own URI is always present (an empty list clears old ones)."""
    analysis = document.analysis
    sources = {**analysis.sources, document.path: document.text}
    grouped: dict[str, list[types.Diagnostic]] = {document.uri: []}
    lines = lines_of(document.text)
    for diagnostic in analysis.diagnostics:
        span = diagnostic.span
        if span is None or span.file == document.path:
            if span is None:
                # A problem of the whole file (none today): shown on its first line.
                converted = types.Diagnostic(
                    range=types.Range(start=types.Position(0, 0), end=types.Position(0, 1)),
                    message=message_of(diagnostic),
                    code=diagnostic.code,
                    source="netspec",
                )
            else:
                converted = convert(diagnostic, sources)
            grouped[document.uri].append(converted)
            continue
        converted = convert(diagnostic, sources)
        grouped.setdefault(uri_of(span.file), []).append(converted)
        site = _import_site(diagnostic, document)
        if site is not None:
            grouped[document.uri].append(
                types.Diagnostic(
                    range=range_of(site, lines),
                    message=f"in {span.file}: {converted.message}",
                    severity=converted.severity,
                    code=diagnostic.code,
                    source="netspec",
                    related_information=[
                        types.DiagnosticRelatedInformation(
                            location=types.Location(uri=uri_of(span.file), range=converted.range),
                            message=diagnostic.message,
                        ),
                        *(converted.related_information or []),
                    ],
                )
            )
    return grouped


def _import_site(diagnostic: Diagnostic, document: Document) -> Span | None:
    """The import of the open file through which the diagnostic's file was read."""
    index = document.index
    if index is None:
        return None
    for note in diagnostic.notes:
        found = _IMPORTED_AT.search(note)
        if found and os.path.abspath(found.group(1)) == os.path.abspath(document.path):
            line, column = int(found.group(2)), int(found.group(3))
            for item in index.imports():
                if (item.full.line, item.full.column) == (line, column):
                    return item.full
    return None
