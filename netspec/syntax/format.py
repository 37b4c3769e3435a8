"""The canonical layout of .net source, for `netspec fmt` and editors' format requests.

The text is parsed with the real grammar (a spec with a syntax error is refused, never
half formatted) and printed again from its tokens, so every name, number and bracket
the author wrote stays as written, redundant parentheses included. The layout:

- four spaces per level of braces; ``{`` ends the line that opens it, ``}`` stands alone;
- one space around ``=``, ``->`` and binary operators, and after ``,`` and ``:``; none
  inside brackets, before the ``(`` of a call or the ``[`` of an input type, or after a
  unary sign;
- the keys of a train section padded to one column (the longest key and one space);
- one blank line between top-level items; consecutive ``import`` or ``let`` lines keep
  the single blank line (or none) the author put between them; elsewhere a run of
  blank lines becomes one, and none stay after ``{`` or before ``}``;
- a chain longer than :data:`WIDTH` columns wraps before a ``->``, as many stages on a
  line as fit, each continuation line's ``->`` under the first one;
- comments stay on the line of the token they follow: an own-line comment keeps its own
  line (indented as the code around it), a trailing comment stays at the end of its line,
  and the trailing comments of a paragraph (lines without a blank between them) start in
  one column, two spaces after the longest commented line's code;
- lines end with ``\n`` and carry no trailing spaces; a byte-order mark is dropped.

Formatting is idempotent, and the tokens of the result are the tokens of the input
(checked on every call), so the program it means cannot change.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from lark import Token, Tree

from netspec.diagnostics import Diagnostics
from netspec.errors import NetspecError
from netspec.syntax.parser import parse, parser

# The widest line of code a chain may make before it wraps. Comments do not count: a
# trailing comment may run past it (wrapping prose is the author's business).
WIDTH = 100
INDENT = "    "
BOM = "\ufeff"

_OPENERS = frozenset({"LPAR", "LSQB"})
_CLOSERS = frozenset({"RPAR", "RSQB"})
# After one of these a '+' or '-' is a binary operator; after anything else, a sign.
_OPERANDS = frozenset({"NAME", "QNAME", "NUMBER", "INT", "STRING", "RPAR", "RSQB"})
_REPEATABLE = frozenset({"import_def", "let_def"})


class FormatError(NetspecError, ValueError):
    """The text cannot be formatted: it has a syntax error. ``diagnostics`` holds the
    same diagnostic `netspec check` reports for it."""


@dataclass
class _Line:
    text: str  # the code with its indentation, or only the indentation of a comment line
    comment: str | None = None
    own: bool = False  # a comment on a line of its own

    @property
    def blank(self) -> bool:
        return not self.text and self.comment is None


def format_source(text: str, path: str | None = None) -> str:
    """``text`` in the canonical layout (see the module docstring).

    Raises :class:`FormatError` with the syntax error's diagnostic (located in ``path``,
    or ``<string>``) when ``text`` does not parse.
    """
    file = path or "<string>"
    text = text.removeprefix(BOM)
    diagnostics = Diagnostics()
    tree = parse(text, file, diagnostics)
    if tree is None:
        first = diagnostics.items[0]
        where = f"{first.span.file}:{first.span.line}:{first.span.column}: " if first.span else ""
        raise FormatError(
            f"{where}cannot format a spec with a syntax error: {first.message}",
            tuple(diagnostics.items),
        )
    tokens = _tokens(text)
    formatted = _Printer(tokens).program(tree)
    if _signature(_tokens(formatted)) != _signature(tokens):
        # The printer only moves whitespace; anything else is a bug in it, and writing
        # its output would change the spec.
        raise RuntimeError(f"formatting {file} would change its tokens; it was left as it is")
    return formatted


def _tokens(text: str) -> list[Token]:
    """Every token of ``text`` but whitespace, comments included, in order."""
    return [token for token in parser().lex(text, dont_ignore=True) if token.type != "WS"]


def _signature(tokens: list[Token]) -> tuple[list[tuple[str, str]], list[str]]:
    code = [(t.type, str(t)) for t in tokens if t.type != "COMMENT"]
    comments = [str(t).rstrip() for t in tokens if t.type == "COMMENT"]
    return code, comments


class _Printer:
    """Prints a parse tree from the tokens of its source, comments in their places."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.starts = [t.start_pos for t in tokens]
        self.lines: list[_Line] = []
        self.next = 0  # the index of the first token not yet printed
        self.last_line = 0  # the source line of the last token printed

    # -- positions ------------------------------------------------------------------

    def index(self, position: int) -> int:
        """The index of the token that starts at ``position``."""
        return bisect_left(self.starts, position)

    def span(self, node: Tree) -> tuple[int, int]:
        """The indices of the first and last tokens of ``node``."""
        return self.index(node.meta.start_pos), self.index(node.meta.end_pos) - 1

    def own_line(self, i: int) -> bool:
        """Whether token ``i`` is the first on its source line."""
        return i == 0 or self.tokens[i - 1].end_line < self.tokens[i].line

    # -- output ---------------------------------------------------------------------

    def blank(self) -> None:
        if self.lines and not self.lines[-1].blank:
            self.lines.append(_Line(""))

    def gap(self, i: int, *, force: bool = False, allow: bool = True) -> None:
        """A blank line before token ``i`` when forced, or when the source has one there."""
        if not self.lines:
            return
        if force or (allow and self.tokens[i].line - self.last_line > 1):
            self.blank()

    def comments_before(self, end: int, indent: str, *, allow_gap: bool = True) -> None:
        """Print the own-line comments before token ``end`` (each on its own line)."""
        while self.next < end:
            token = self.tokens[self.next]
            self.gap(self.next, allow=allow_gap)
            self.lines.append(_Line(indent, str(token).rstrip(), own=True))
            self.last_line = token.line
            self.next += 1
            allow_gap = True

    def consume(self, last: int) -> int:
        """Mark tokens up to ``last`` printed, and the comment trailing it; the index of
        the last token consumed."""
        following = last + 1
        if following < len(self.tokens) and self.tokens[following].type == "COMMENT":
            last += 0 if self.own_line(following) else 1
        self.next = last + 1
        self.last_line = self.tokens[last].line
        return last

    # -- structure ------------------------------------------------------------------

    def program(self, tree: Tree) -> str:
        previous: str | None = None
        for item in tree.children:
            if not isinstance(item, Tree):
                continue
            first, last = self.span(item)
            kind = item.data
            force = previous is not None and not (previous == kind and kind in _REPEATABLE)
            if self.next < first:
                self.gap(self.next, force=force)
                self.comments_before(first, "", allow_gap=not force)
                self.gap(first)
            else:
                self.gap(first, force=force)
            if kind in ("block_def", "model_def", "repeat", "train_def", "defaults"):
                self.braced(item, "")
            else:
                self.statement(first, last, "")
            previous = kind
        if self.next < len(self.tokens):
            self.gap(self.next)
            self.comments_before(len(self.tokens), "")
        return _render(self.lines)

    def braced(self, node: Tree, indent: str) -> None:
        """An item or statement with a body in braces: its header line, body, '}'."""
        first, last = self.span(node)
        brace = next(i for i in range(first, last + 1) if self.tokens[i].type == "LBRACE")
        self.statement(first, brace, indent)
        inner = indent + INDENT
        entries = _body_entries(node)
        width = 0
        if node.data == "train_def":
            width = max((len(str(e.children[0])) for e in entries), default=0) + 1
        for number, entry in enumerate(entries):
            start, end = self.span(entry)
            self.comments_before(start, inner, allow_gap=number > 0)
            if number > 0:
                self.gap(start)
            if entry.data == "repeat":
                self.braced(entry, inner)
            elif entry.data == "train_item":
                self.statement(start, end, inner, key_width=width)
            else:
                self.statement(start, end, inner)
        self.comments_before(last, inner, allow_gap=bool(entries))
        self.statement(last, last, indent)

    def statement(self, first: int, last: int, indent: str, *, key_width: int = 0) -> None:
        """Tokens ``first``..``last`` (and a comment trailing them) as one statement."""
        last = self.consume(last)
        tokens = self.tokens[first : last + 1]
        prefix = indent
        if key_width:
            prefix += str(tokens[0]).ljust(key_width)
            tokens = tokens[1:]
        start = last + 1 - len(tokens)  # the index of tokens[0]
        if any(t.type == "ARROW" for t in tokens) and not self.interior_comments(first, last):
            self.lines.extend(self.chain(tokens, start, prefix, indent))
        else:
            self.lines.extend(self.flow(tokens, start, prefix, indent))

    def interior_comments(self, first: int, last: int) -> bool:
        """Whether a comment stands inside a stage of a chain (not right after one)."""
        for i in range(first, last + 1):
            if self.tokens[i].type != "COMMENT" or i == last:
                continue
            before, after = self.tokens[i - 1].type, self.tokens[i + 1].type
            if after != "ARROW" and before != "ARROW" and after != "COMMENT":
                return True
        return False

    # -- lines ----------------------------------------------------------------------

    def flow(self, tokens: list[Token], offset: int, prefix: str, indent: str) -> list[_Line]:
        """Tokens on one line, broken only after a comment; continuation lines are
        indented two levels deeper than ``indent``."""
        lines: list[_Line] = []
        continuation = indent + 2 * INDENT
        text, previous, sign = prefix, None, False
        for k, token in enumerate(tokens):
            if token.type == "COMMENT":
                comment = str(token).rstrip()
                own = self.own_line(offset + k) or not text.strip()
                if own and text.strip():
                    lines.append(_Line(text))
                if own:
                    lines.append(_Line(continuation, comment, own=True))
                else:
                    lines.append(_Line(text, comment))
                text, previous, sign = continuation, None, False
                continue
            text += _space(previous, token, sign) + str(token)
            sign = _is_sign(previous, token)
            previous = token
        if text.strip():
            lines.append(_Line(text))
        return lines

    def chain(self, tokens: list[Token], offset: int, prefix: str, indent: str) -> list[_Line]:
        """A chain, wrapped before '->' where a line would pass WIDTH: continuation lines
        start with '->' under the first one, or two levels deeper than ``indent`` when
        that is past the middle of the line."""
        stages: list[tuple[str, list[int]]] = []  # each stage's text, comments after it
        current: list[Token] = []
        comments: list[int] = []
        for k, token in enumerate(tokens):
            if token.type == "COMMENT" and not current and stages:
                stages[-1][1].append(offset + k)  # after an arrow: keep it with the stage before
            elif token.type == "COMMENT":
                comments.append(offset + k)
            elif token.type == "ARROW":
                stages.append((_join(current), comments))
                current, comments = [], []
            else:
                current.append(token)
        stages.append((_join(current), comments))
        lines: list[_Line] = []
        head, head_comments = stages[0]
        text = prefix + head
        column = len(text) + 1 if len(text) + 1 <= WIDTH // 2 else len(indent + 2 * INDENT)
        continuation = " " * column + "-> "
        open_line = True
        for number, (stage, after) in enumerate([(head, head_comments), *stages[1:]]):
            if number > 0:
                if open_line and len(text) + 4 + len(stage) <= WIDTH:
                    text += " -> " + stage
                else:
                    if open_line:
                        lines.append(_Line(text))
                    text = continuation + stage
                open_line = True
            for i in after:
                comment = str(self.tokens[i]).rstrip()
                if self.own_line(i) or not open_line:
                    if open_line:
                        lines.append(_Line(text))
                    lines.append(_Line(continuation[:-3], comment, own=True))
                else:
                    lines.append(_Line(text, comment))
                open_line = False
        if open_line:
            lines.append(_Line(text))
        return lines


def _body_entries(node: Tree) -> list[Tree]:
    """The statements, settings or train items between a node's braces."""
    if node.data in ("block_def", "model_def", "repeat"):
        body = node.children[-1]
        return [c for c in body.children if isinstance(c, Tree)]
    return [c for c in node.children if isinstance(c, Tree) and c.data in ("setting", "train_item")]


def _space(previous: Token | None, token: Token, sign: bool = False) -> str:
    """The whitespace between two adjacent tokens of one line; ``sign`` when
    ``previous`` is a unary sign."""
    if previous is None:
        return ""
    if token.type in _CLOSERS or token.type in ("COMMA", "COLON"):
        return ""
    if previous.type in _OPENERS:
        return ""
    if token.type in _OPENERS and previous.type in ("NAME", "QNAME"):
        return ""  # a call, a block's or model's parameters, an input type's shape
    if sign:
        return ""
    return " "


def _is_sign(previous: Token | None, token: Token) -> bool:
    """Whether ``token`` is a unary '+' or '-' (no operand before it)."""
    return token.type in ("PLUS", "MINUS") and (previous is None or previous.type not in _OPERANDS)


def _join(tokens: list[Token]) -> str:
    """Tokens as one line of text with canonical spacing."""
    text, previous, sign = "", None, False
    for token in tokens:
        text += _space(previous, token, sign) + str(token)
        sign = _is_sign(previous, token)
        previous = token
    return text


def _render(lines: list[_Line]) -> str:
    """The lines as text, the trailing comments of each paragraph in one column."""
    while lines and lines[-1].blank:
        lines.pop()
    out: list[str] = []
    start = 0
    while start < len(lines):
        end = start
        while end < len(lines) and not lines[end].blank:
            end += 1
        paragraph = lines[start:end]
        column = max(
            (len(line.text.rstrip()) for line in paragraph if line.comment and not line.own),
            default=0,
        )
        for line in paragraph:
            if line.comment is None:
                out.append(line.text.rstrip())
            elif line.own:
                out.append(line.text + line.comment)
            else:
                out.append(line.text.rstrip().ljust(column) + "  " + line.comment)
        if end < len(lines):
            out.append("")
        start = end + 1
    return "\n".join(out) + "\n" if out else ""
