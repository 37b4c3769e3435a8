"""The language server: pygls wiring of the features in this package.

Documents are synchronised in full (the client sends the whole text on each change);
each change is analysed at once, without a debounce, since a whole analysis of a
ResNet-18 spec takes milliseconds (see docs/editors.md for the figures).
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from netspec.lsp.actions import code_actions
from netspec.lsp.completion import completions
from netspec.lsp.convert import from_position, lines_of, path_of, range_of, uri_of, use_encoding
from netspec.lsp.documents import Document, Store
from netspec.lsp.formatting import formatting_edits
from netspec.lsp.hover import hover_text
from netspec.lsp.navigation import definition_at, references_at
from netspec.lsp.publish import by_uri
from netspec.lsp.symbols import document_symbols

NAME = "netspec"
VERSION = "0.1.0"


class NetspecServer(LanguageServer):
    """A pygls server that keeps a :class:`Store` of analysed documents."""

    def __init__(self) -> None:
        super().__init__(NAME, VERSION, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.store = Store()
        # URIs of imported files each document published diagnostics for, to clear them.
        self.published: dict[str, set[str]] = {}

    def refresh(self, uri: str) -> Document:
        """Analyse the document's current text and publish its diagnostics."""
        text = self.workspace.get_text_document(uri).source
        document = self.store.update(uri, path_of(uri), text)
        grouped = by_uri(document)
        open_uris = set(self.store.documents)
        stale = self.published.get(uri, set()) - set(grouped)
        for other in stale:
            grouped[other] = []
        for target, diagnostics in grouped.items():
            if target != uri and target in open_uris:
                continue  # an open file publishes its own diagnostics
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=target, diagnostics=diagnostics)
            )
        self.published[uri] = {u for u in grouped if u != uri and grouped[u]}
        return document

    def document(self, uri: str) -> Document | None:
        return self.store.documents.get(uri)


def _where(document: Document, position: types.Position) -> tuple[int, int]:
    return from_position(lines_of(document.text), position)


def create_server() -> NetspecServer:
    """A server with every feature registered; ``start_io()`` runs it on stdio."""
    server = NetspecServer()

    @server.feature(types.INITIALIZED)
    def initialized(ls: NetspecServer, params: types.InitializedParams) -> None:
        use_encoding(str(ls.server_capabilities.position_encoding or "utf-16"))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NetspecServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NetspecServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NetspecServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.store.close(uri)
        for target in {uri, *ls.published.pop(uri, set())}:
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=target, diagnostics=[])
            )

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: NetspecServer, params: types.HoverParams) -> types.Hover | None:
        document = ls.document(params.text_document.uri)
        if document is None:
            return None
        found = hover_text(ls.store, document, *_where(document, params.position))
        if found is None:
            return None
        text, span = found
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=range_of(span, lines_of(document.text)),
        )

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: NetspecServer, params: types.DefinitionParams) -> types.Location | None:
        document = ls.document(params.text_document.uri)
        if document is None:
            return None
        span = definition_at(ls.store, document, *_where(document, params.position))
        if span is None:
            return None
        return types.Location(uri=uri_of(span.file), range=_range_in(ls, document, span))

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def references(ls: NetspecServer, params: types.ReferenceParams) -> list[types.Location]:
        document = ls.document(params.text_document.uri)
        if document is None:
            return []
        spans = references_at(
            ls.store,
            document,
            *_where(document, params.position),
            declaration=params.context.include_declaration,
        )
        lines = lines_of(document.text)
        return [types.Location(uri=document.uri, range=range_of(s, lines)) for s in spans]

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=["(", ",", "=", " ", "."]),
    )
    def completion(ls: NetspecServer, params: types.CompletionParams) -> types.CompletionList:
        document = ls.document(params.text_document.uri)
        if document is None:
            return types.CompletionList(is_incomplete=False, items=[])
        items = completions(ls.store, document, *_where(document, params.position))
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def symbols(
        ls: NetspecServer, params: types.DocumentSymbolParams
    ) -> list[types.DocumentSymbol]:
        document = ls.document(params.text_document.uri)
        return document_symbols(document) if document is not None else []

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(
        ls: NetspecServer, params: types.DocumentFormattingParams
    ) -> list[types.TextEdit]:
        document = ls.document(params.text_document.uri)
        return formatting_edits(document) if document is not None else []

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def actions(ls: NetspecServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        document = ls.document(params.text_document.uri)
        return code_actions(document, params.range) if document is not None else []

    return server


def _range_in(ls: NetspecServer, document: Document, span: object) -> types.Range:
    """A span's range, measured in the text of the file it is in."""
    file = span.file  # type: ignore[attr-defined]
    if file == document.path:
        text = document.text
    else:
        text = document.analysis.sources.get(file)
        if text is None:
            try:
                with open(file, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                text = ""
    return range_of(span, lines_of(text))  # type: ignore[arg-type]
