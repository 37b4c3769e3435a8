"""The names of one parsed .net file: where each is defined and where it is used.

Built from the parse tree alone (no elaboration), so that navigation and completion work
on any text that parses. Each model and block body is a scope for its tensors and block
parameters; everything else (constants, blocks, models, imports) is file-wide.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lark import Token, Tree

from netspec.diagnostics import Diagnostics
from netspec.elaborate.imports import STD_DIR, STD_PREFIX
from netspec.ir.graph import Span
from netspec.syntax.parser import parse, span_of


@dataclass(frozen=True)
class Definition:
    """A name the file defines: ``kind`` is let, block, model, train, tensor, param or
    import; ``span`` is the name as written, ``full`` the whole definition."""

    name: str
    kind: str
    span: Span
    full: Span
    scope: int | None = None
    # The source text of the definition's value (a let's expression, a param's default).
    text: str = ""
    # A block's parameters: (name, default text or "").
    params: tuple[tuple[str, str], ...] = ()
    # An import: the file it reads (absolute), when it can be found.
    target: str | None = None


@dataclass(frozen=True)
class Occurrence:
    """A name used: ``kind`` is call (the head of ``name(...)``), ref (a stage that is
    a bare name), value (a name inside an expression), key (a keyword argument's or a
    train setting's name) or model (the model a train section names)."""

    name: str
    kind: str
    span: Span
    scope: int | None
    # For a call head: the span of the whole call (the stage), else the token's.
    stage: Span | None = None
    # For a key: the head of the call it belongs to ("" in a train section: the setting).
    head: str = ""


@dataclass(frozen=True)
class Scope:
    """A model or block body: its name, kind and the text it covers."""

    name: str
    kind: str
    full: Span


@dataclass
class Index:
    """Every definition and occurrence of names in one file."""

    file: str
    definitions: list[Definition] = field(default_factory=list)
    occurrences: list[Occurrence] = field(default_factory=list)
    scopes: list[Scope] = field(default_factory=list)

    def defined(self, name: str, scope: int | None = None) -> Definition | None:
        """The definition ``name`` means in ``scope``: a tensor or parameter of that
        scope first, then a file-wide name."""
        if scope is not None:
            for item in self.definitions:
                if item.scope == scope and item.name == name:
                    return item
        for item in self.definitions:
            if item.scope is None and item.name == name and item.kind != "train":
                return item
        return None

    def scope_at(self, line: int, column: int) -> int | None:
        """The innermost scope containing a position (1-based), or None at file level."""
        found = None
        for number, scope in enumerate(self.scopes):
            if contains(scope.full, line, column):
                found = number
        return found

    def at(self, line: int, column: int) -> Occurrence | Definition | None:
        """The occurrence or definition whose name covers a position (1-based); an
        import anywhere on its statement."""
        for item in [*self.occurrences, *self.definitions]:
            span = (
                item.full if isinstance(item, Definition) and item.kind == "import" else item.span
            )
            if contains(span, line, column, inclusive_end=True):
                return item
        return None

    def imports(self) -> list[Definition]:
        return [d for d in self.definitions if d.kind == "import"]


def contains(span: Span, line: int, column: int, *, inclusive_end: bool = False) -> bool:
    """Whether a position lies in ``span`` (at its end too with ``inclusive_end``: a
    cursor just after a name is on it)."""
    if (line, column) < (span.line, span.column):
        return False
    end = (span.end_line, span.end_column)
    return (line, column) <= end if inclusive_end else (line, column) < end


def within(inner: Span, outer: Span) -> bool:
    """Whether ``inner`` lies inside ``outer`` (same file)."""
    return (
        inner.file == outer.file
        and (inner.line, inner.column) >= (outer.line, outer.column)
        and (inner.end_line, inner.end_column) <= (outer.end_line, outer.end_column)
    )


def import_target(written: Token, file: str) -> str | None:
    """The absolute path an import reads (``import "x.net"`` relative to ``file``'s
    folder, ``import std.NAME`` in the standard library), None when it does not exist."""
    if written.type == "STRING":
        name = str(written)[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        folder = "" if file.startswith("<") else os.path.dirname(file)
        path = Path(os.path.normpath(os.path.join(folder, name)))
    elif str(written).startswith(STD_PREFIX):
        path = STD_DIR / f"{str(written).removeprefix(STD_PREFIX)}.net"
    else:
        return None
    return str(path.resolve()) if path.is_file() else None


def build(text: str, file: str) -> Index | None:
    """The index of ``text``, or None when it does not parse."""
    tree = parse(text, file, Diagnostics())
    if tree is None:
        return None
    builder = _Builder(Index(file=file), text)
    for item in tree.children:
        if isinstance(item, Tree):
            builder.item(item)
    return builder.index


class _Builder:
    def __init__(self, index: Index, text: str) -> None:
        self.index = index
        self.lines = text.splitlines()

    def span(self, node: Tree | Token) -> Span:
        return span_of(node, self.index.file)

    def source(self, node: Tree | Token) -> str:
        """The text of a node as written (one line's worth for a multi-line node)."""
        span = self.span(node)
        if span.line != span.end_line:
            return self.lines[span.line - 1][span.column - 1 :].strip() + " ..."
        return self.lines[span.line - 1][span.column - 1 : span.end_column - 1]

    def define(self, token: Token, kind: str, full: Tree | Token, scope: int | None = None,
               **extra: object) -> None:  # fmt: skip
        self.index.definitions.append(
            Definition(str(token), kind, self.span(token), self.span(full), scope, **extra)  # type: ignore[arg-type]
        )

    def item(self, item: Tree) -> None:
        kind = item.data
        if kind == "import_def":
            target, *alias = item.children
            alias_token = alias[0] if alias and alias[0] is not None else None
            self.define(
                alias_token if alias_token is not None else target,
                "import",
                item,
                text=str(target),
                target=import_target(target, self.index.file),
            )
        elif kind == "let_def":
            name, expr = item.children
            self.define(name, "let", item, text=self.source(expr))
            self.expr(expr, None)
        elif kind == "defaults":
            for setting in item.children:
                self.expr(setting.children[1], None)
        elif kind == "block_def":
            self.block(item)
        elif kind == "model_def":
            name, *inputs, body = item.children
            self.define(name, "model", item)
            scope = self.scope(str(name), "model", item)
            for model_input in inputs:
                self.define(model_input.children[0], "tensor", model_input, scope)
                self.expr(model_input.children[1], scope)
            self.body(body, scope)
        elif kind == "train_def":
            name, *settings = item.children
            self.define(name, "train", item)
            self.occur(name, "model", None)
            for setting in settings:
                key, *args = setting.children
                self.occur(key, "key", None)
                for arg in args:
                    self.expr(arg, None)

    def scope(self, name: str, kind: str, item: Tree) -> int:
        self.index.scopes.append(Scope(name, kind, self.span(item)))
        return len(self.index.scopes) - 1

    def block(self, item: Tree) -> None:
        name, *rest = item.children
        params_tree = rest[0] if len(rest) == 2 else None
        params: list[tuple[str, str]] = []
        scope = self.scope(str(name), "block", item)
        if params_tree is not None:
            for param in params_tree.children:
                if param is None:
                    continue
                default = param.children[1] if len(param.children) > 1 else None
                text = self.source(default) if default is not None else ""
                params.append((str(param.children[0]), text))
                self.define(param.children[0], "param", param, scope, text=text)
                if default is not None:
                    self.expr(default, None)
        self.define(name, "block", item, params=tuple(params))
        self.body(rest[-1], scope)

    def body(self, body: Tree, scope: int) -> None:
        for statement in body.children:
            if not isinstance(statement, Tree):
                continue
            if statement.data == "input_decl":
                self.define(statement.children[0], "tensor", statement, scope)
            elif statement.data == "assign":
                name, chain = statement.children
                self.define(name, "tensor", statement, scope, text=self.source(chain))
                self.chain(chain, scope)
            elif statement.data == "chain":
                self.chain(statement, scope)
            elif statement.data == "repeat":
                count, inner = statement.children
                self.expr(count, scope)
                self.body(inner, scope)

    def chain(self, chain: Tree, scope: int) -> None:
        for stage in chain.children:
            if isinstance(stage, Tree) and stage.data == "ref":
                self.occur(stage.children[0], "ref", scope)
            else:
                self.expr(stage, scope)

    def expr(self, node: Tree | Token | None, scope: int | None, head: str = "") -> None:
        if node is None:
            return
        if isinstance(node, Token):
            if node.type in ("NAME", "QNAME"):
                self.occur(node, "value", scope)
            return
        if node.data == "call":
            head_token, *args = node.children
            self.occur(head_token, "call", scope, stage=self.span(node))
            for arg in args:
                self.expr(arg, scope, str(head_token))
        elif node.data == "kwarg":
            key, value = node.children
            self.occur(key, "key", scope, head=head)
            self.expr(value, scope)
        elif node.data == "name":
            self.occur(node.children[0], "value", scope)
        elif node.data in ("number", "string"):
            return
        else:
            for child in node.children:
                self.expr(child, scope)

    def occur(self, token: Token, kind: str, scope: int | None, *, stage: Span | None = None,
              head: str = "") -> None:  # fmt: skip
        span = self.span(token)
        self.index.occurrences.append(
            Occurrence(str(token), kind, span, scope, stage or span, head)
        )
