"""The server's view of each open .net file: its text, its analysis and its index.

Each edit re-runs the whole front end on the buffer text (`netspec.frontend.analyze`,
exactly what `netspec check` runs) with the file's path, so that imports resolve as they
do on disk. The index of the last text that parsed is kept, so that completion and
navigation still work while the text being typed does not parse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from netspec.frontend import Analysis, analyze
from netspec.lsp.index import Definition, Index, build


@dataclass
class Document:
    """One open file: ``path`` is the name its spans carry."""

    uri: str
    path: str
    text: str
    analysis: Analysis
    # The index of this text, or of the last text of this file that parsed.
    index: Index | None
    # Whether ``index`` is of the current text.
    index_current: bool = True


@dataclass
class Store:
    """Open documents by URI, and the indexes of imported files (by path, re-read when the
    file changes on disk)."""

    documents: dict[str, Document] = field(default_factory=dict)
    _libraries: dict[str, tuple[int, int, Index | None]] = field(default_factory=dict)

    def update(self, uri: str, path: str, text: str) -> Document:
        """Analyse ``text`` as the content of ``path`` and remember it under ``uri``."""
        analysis = analyze(text, path)
        index = build(text, path)
        previous = self.documents.get(uri)
        current = index is not None
        if index is None:
            # Text being typed: the names of the rest of the file, read without the line
            # of the syntax error (blanked, so that positions hold), are fresher than the
            # last text that parsed; failing that, that text's names.
            index = _without_error_line(text, path, analysis)
        if index is None and previous is not None:
            index = previous.index
        document = Document(uri, path, text, analysis, index, current)
        self.documents[uri] = document
        return document

    def close(self, uri: str) -> None:
        self.documents.pop(uri, None)

    def library(self, path: str) -> Index | None:
        """The index of an imported file: an open document's, else the file on disk's."""
        for document in self.documents.values():
            if os.path.abspath(document.path) == path and document.index is not None:
                return document.index
        try:
            stat = Path(path).stat()
            cached = self._libraries.get(path)
            if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
                return cached[2]
            index = build(Path(path).read_text(encoding="utf-8").removeprefix("\ufeff"), path)
        except (OSError, UnicodeDecodeError):
            return None
        self._libraries[path] = (stat.st_mtime_ns, stat.st_size, index)
        return index

    def resolve(self, index: Index, name: str, scope: int | None) -> Definition | None:
        """What ``name`` means in ``scope`` of the file ``index`` describes: a local name,
        else a block or constant an import gives (``ns.name`` through its namespace)."""
        found = index.defined(name, scope)
        if found is not None:
            return found
        imports = index.imports()
        if "." in name:
            namespace, _, rest = name.rpartition(".")
            for item in imports:
                if item.name == namespace and item.target and item.text != namespace:
                    return self._exported(item.target, rest)
            return None
        for item in imports:
            if item.target is not None and item.name == item.text:
                found = self._exported(item.target, name)
                if found is not None:
                    return found
        return None

    def _exported(self, path: str, name: str) -> Definition | None:
        library = self.library(path)
        if library is None:
            return None
        found = library.defined(name)
        return found if found is not None and found.kind in ("block", "let") else None


def _without_error_line(text: str, path: str, analysis: Analysis) -> Index | None:
    """The index of ``text`` with the line of its syntax error blanked, or else the line
    before it (an unclosed call is found wanting on the next line), if either parses."""
    error = next((d for d in analysis.diagnostics if d.code == "E001" and d.span), None)
    if error is None or error.span is None:
        return None
    lines = text.split("\n")
    for number in (error.span.line - 1, error.span.line - 2):
        if 0 <= number < len(lines):
            blanked = [*lines[:number], " " * len(lines[number]), *lines[number + 1 :]]
            index = build("\n".join(blanked), path)
            if index is not None:
                return index
    return None
