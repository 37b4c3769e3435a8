"""Document symbols: the outline of a file (models with their inputs and named tensors,
blocks with their parameters and named tensors, train sections, constants, imports)."""

from __future__ import annotations

from lsprotocol import types

from netspec.lsp.convert import lines_of, range_of
from netspec.lsp.documents import Document

_KINDS = {
    "model": types.SymbolKind.Class,
    "block": types.SymbolKind.Function,
    "train": types.SymbolKind.Event,
    "let": types.SymbolKind.Constant,
    "import": types.SymbolKind.Module,
    "tensor": types.SymbolKind.Variable,
    "param": types.SymbolKind.TypeParameter,
}


def document_symbols(document: Document) -> list[types.DocumentSymbol]:
    index = document.index
    if index is None:
        return []
    lines = lines_of(document.text)
    children: dict[int, list[types.DocumentSymbol]] = {}
    for item in index.definitions:
        if item.scope is not None:
            children.setdefault(item.scope, []).append(
                types.DocumentSymbol(
                    name=item.name,
                    kind=_KINDS[item.kind],
                    range=range_of(item.full, lines),
                    selection_range=range_of(item.span, lines),
                    detail=item.kind,
                )
            )
    symbols = []
    for item in index.definitions:
        if item.scope is not None:
            continue
        scope = next(
            (
                number
                for number, s in enumerate(index.scopes)
                if s.kind == item.kind and s.full == item.full
            ),
            None,
        )
        symbols.append(
            types.DocumentSymbol(
                name=item.name if item.kind != "train" else f"train {item.name}",
                kind=_KINDS[item.kind],
                range=range_of(item.full, lines),
                selection_range=range_of(item.span, lines),
                detail=item.kind,
                children=children.get(scope, []) if scope is not None else None,
            )
        )
    return symbols
