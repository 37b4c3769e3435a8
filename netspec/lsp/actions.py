"""Code actions: the fixes the diagnostics carry (:class:`netspec.diagnostics.Fix`), as
quick fixes: insert ``flatten`` before a dense layer that needs a vector, replace a
misspelt name by each name its ``did you mean`` help suggests."""

from __future__ import annotations

from lsprotocol import types

from netspec.lsp.convert import lines_of, range_of
from netspec.lsp.documents import Document
from netspec.lsp.publish import convert


def _overlaps(a: types.Range, b: types.Range) -> bool:
    start_a, end_a = (a.start.line, a.start.character), (a.end.line, a.end.character)
    start_b, end_b = (b.start.line, b.start.character), (b.end.line, b.end.character)
    return start_a <= end_b and start_b <= end_a


def code_actions(document: Document, requested: types.Range) -> list[types.CodeAction]:
    """A quick fix per fix of each diagnostic of this file whose range meets ``requested``."""
    lines = lines_of(document.text)
    sources = {**document.analysis.sources, document.path: document.text}
    actions = []
    for diagnostic in document.analysis.diagnostics:
        span = diagnostic.span
        if span is None or span.file != document.path or not diagnostic.fixes:
            continue
        converted = convert(diagnostic, sources)
        if not _overlaps(converted.range, requested):
            continue
        for fix in diagnostic.fixes:
            if fix.span.file != document.path:
                continue
            edit = types.TextEdit(range=range_of(fix.span, lines), new_text=fix.replacement)
            actions.append(
                types.CodeAction(
                    title=fix.title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[converted],
                    edit=types.WorkspaceEdit(changes={document.uri: [edit]}),
                    is_preferred=len(diagnostic.fixes) == 1,
                )
            )
    return actions
