"""Go to definition and find references.

A block, constant, named tensor, block parameter or model (from its train section) goes
to where it is defined, in this file or in the file an import reads; an import goes to
that file. References are every use of the same definition in the open file (with the
definition itself when the client asks for it).
"""

from __future__ import annotations

from netspec.ir.graph import Span
from netspec.lsp.documents import Document, Store
from netspec.lsp.index import Definition, Occurrence

FILE_START = Span.model_construct(file="", line=1, column=1, end_line=1, end_column=1)


def definition_at(store: Store, document: Document, line: int, column: int) -> Span | None:
    """Where the name at a 1-based position is defined (an import: its file's start)."""
    target = _target(store, document, line, column)
    if target is None:
        return None
    if target.kind == "import":
        if target.target is None:
            return None
        return FILE_START.model_copy(update={"file": target.target})
    return target.span


def references_at(
    store: Store, document: Document, line: int, column: int, *, declaration: bool
) -> list[Span]:
    """The uses in this file of what the name at a position means."""
    target = _target(store, document, line, column)
    index = document.index
    if target is None or index is None:
        return []
    found = [
        item.span
        for item in index.occurrences
        if item.kind != "key" and store.resolve(index, item.name, item.scope) == target
    ]
    if declaration and target.span.file == document.path:
        found.insert(0, target.span)
    return found


def _target(store: Store, document: Document, line: int, column: int) -> Definition | None:
    index = document.index
    if index is None or not document.index_current:
        return None
    found = index.at(line, column)
    if isinstance(found, Definition):
        return found
    if isinstance(found, Occurrence) and found.kind != "key":
        if found.kind == "model":
            return next(
                (d for d in index.definitions if d.kind == "model" and d.name == found.name), None
            )
        return store.resolve(index, found.name, found.scope)
    return None
