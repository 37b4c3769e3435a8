"""Parse .net text with the packaged LALR grammar; syntax errors become diagnostics."""

from __future__ import annotations

import functools
import re

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from netspec.diagnostics import Diagnostics, Label
from netspec.ir.graph import Span
from netspec.syntax import tables

# What the user typed, for each terminal the grammar names.
_TERMINALS: dict[str, str] = {
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "COLON": "':'",
    "EQUAL": "'='",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "PERCENT": "'%'",
    "ARROW": "'->'",
    "FLOORDIV": "'//'",
    "POW": "'**'",
    "NAME": "a name",
    "QNAME": "a name",
    "NUMBER": "a number",
    "INT": "an integer",
    "STRING": "a string",
    "$END": "the end of the file",
}

_KEYWORDS = ("netspec", "import", "let", "defaults", "block", "model", "train", "input", "repeat")


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser, built once per process from the committed JSON tables.

    No cache file is read or written: Lark's own cache is a pickle, which would run
    whatever code a planted file holds (see netspec.syntax.tables).
    """
    text = tables.grammar_text()
    committed = tables.committed_tables()
    loaded = tables.load(committed, text) if committed is not None else None
    return loaded if loaded is not None else tables.build(text)


def span_of(meta_or_token: object, file: str) -> Span:
    """The source span of a tree's meta or of a token."""
    node = meta_or_token.meta if isinstance(meta_or_token, Tree) else meta_or_token
    return Span.model_construct(
        file=file,
        line=getattr(node, "line", 1) or 1,
        column=getattr(node, "column", 1) or 1,
        end_line=getattr(node, "end_line", None) or getattr(node, "line", 1) or 1,
        end_column=getattr(node, "end_column", None) or (getattr(node, "column", 1) or 1) + 1,
    )


_OPERATORS = frozenset({"PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "FLOORDIV", "POW"})
_VALUE_STARTS = frozenset({"NUMBER", "NAME", "STRING", "LSQB", "LPAR", "MINUS", "PLUS"})


def _describe(terminals: set[str]) -> str:
    """The expected terminals as a user reads them: operators only when nothing else fits."""
    wanted = set(terminals)
    phrases: list[str] = []
    if len(wanted & _VALUE_STARTS) >= 4:
        # Anything that starts an expression: say "a value" once, not seven tokens.
        wanted -= _VALUE_STARTS
        phrases.append("a value")
    if wanted - _OPERATORS:
        wanted -= _OPERATORS
    phrases.extend(
        sorted(_TERMINALS.get(t, f"'{t.lower()}'" if t.isupper() else repr(t)) for t in wanted)
    )
    if len(phrases) > 5:
        phrases = [*phrases[:5], "..."]
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    return f"'{token.value}'"


# The elaborator walks the tree recursively; a deeper tree (`[[[[...]]]]`, a thousand
# nested repeats, `1 + 1 + ... + 1` with a thousand terms) is refused up front rather than
# overflowing Python's stack. Real specs stay far below this.
MAX_NESTING = 100


def parse(text: str, file: str, diagnostics: Diagnostics) -> Tree | None:
    """Parse ``text``; on a syntax error or absurd nesting, record it and return None."""
    try:
        tree = parser().parse(text)
    except UnexpectedInput as error:
        _report(error, text, file, diagnostics)
        return None
    too_deep = _too_deep(tree)
    if too_deep is not None:
        diagnostics.error(
            "E021",
            f"this is nested more than {MAX_NESTING} levels deep",
            span_of(too_deep, file),
            help=["name intermediate values with let, or use fewer nested repeats"],
        )
        return None
    return tree


def _too_deep(tree: Tree) -> Tree | None:
    """The first subtree deeper than MAX_NESTING, found without recursion."""
    stack: list[tuple[Tree, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return node
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return None


def _report(error: UnexpectedInput, text: str, file: str, diagnostics: Diagnostics) -> None:
    line = getattr(error, "line", 1) or 1
    column = getattr(error, "column", 1) or 1
    help: list[str] = []
    labels: list[Label] = []
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else "?"
        message = f"unexpected character {char!r}"
        if char in _LOOKALIKES:
            help.append(_LOOKALIKES[char])
        elif char in "'":
            help.append('strings are written in double quotes: "like this"')
        elif char == ";":
            help.append("statements need no ';': put each on its own line")
        elif char == "." and re.search(r"[A-Za-z_]\w*\s*$", text[: error.pos_in_stream]):
            help.append("a qualified name has no spaces around its '.': std.resnet, b.res")
        elif char == "." and column > 1:
            help.append("numbers need a digit before the point: 0.5, not .5")
        span = Span.model_construct(
            file=file, line=line, column=column, end_line=line, end_column=column + 1
        )
    elif isinstance(error, UnexpectedToken):
        token = error.token
        expected = set(error.expected) or set(getattr(error, "accepts", ()) or ())
        message = f"expected {_describe(expected)}, found {_found(token)}"
        if token.type == "$END":
            line, column = _end_position(text)
            message = f"unexpected end of the file: expected {_describe(expected)}"
            help.extend(_unclosed_help(text, file, labels))
            opened = _unclosed(text)
            if opened is not None:
                message = (
                    f"unexpected end of the file: the '{opened[2]}' on line {opened[0]} "
                    "is never closed"
                )
        elif token.type == "NAME" and token.value in _KEYWORDS:
            help.append(f"'{token.value}' is a keyword and cannot be used as a name here")
        elif token.type == "EQUAL" and _word_before(text, token) in _KEYWORDS:
            word = _word_before(text, token)
            help.append(f"'{word}' is a keyword and cannot name a tensor: choose another name")
        elif "RPAR" in expected and token.type == "NAME":
            help.append("separate arguments with ','")
        elif token.type == "RPAR" and "NAME" in expected:
            help.append("remove the trailing ','")
        elif token.type == "NUMBER" and "LSQB" in expected:
            help.append("input shapes are lists: model m(x: [784])")
        elif token.type == "COMMA" and ("RPAR" in expected or "COLON" in expected):
            help.extend(_comma_in_parentheses(text, token))
        elif token.type == "EQUAL":
            help.extend(_train_setting_called(text, token))
        width = max(1, len(str(token.value))) if token.type != "$END" else 1
        span = Span.model_construct(
            file=file, line=line, column=column, end_line=line, end_column=column + width
        )
    else:  # UnexpectedEOF and anything else Lark adds
        line, column = _end_position(text)
        message = "unexpected end of the file"
        if isinstance(error, UnexpectedEOF):
            message += f": expected {_describe(set(error.expected))}"
        help.extend(_unclosed_help(text, file, labels))
        span = Span.model_construct(
            file=file, line=line, column=column, end_line=line, end_column=column + 1
        )
    diagnostics.error("E001", message, span, labels=labels, help=help)


_CLOSERS = {"{": "}", "(": ")", "[": "]"}

# Characters that word processors and other languages put where netspec wants ASCII.
_LOOKALIKES: dict[str, str] = {
    **dict.fromkeys("\u2192\u27f6\u2794\u279c\u21d2", "write the arrow as '->' (ASCII)"),
    **dict.fromkeys("\u2212\u2013\u2014\u2010\u2011", "write the minus sign as '-' (ASCII)"),
    **dict.fromkeys(
        "\u201c\u201d\u201e\u00ab\u00bb",
        'write strings in plain double quotes: "like this"',
    ),
    **dict.fromkeys(
        "\u2018\u2019\u201a", 'strings are written in plain double quotes: "like this"'
    ),
    "\u00d7": "write multiplication as '*' (ASCII); a pair of sizes is a list: [3, 3]",
    "\u00f7": "write division as '/' (ASCII)",
    "\u00a0": "a non-breaking space: replace it with a plain space",
    "\u3000": "a full-width space: replace it with a plain space",
    "\uff0c": "write the comma as ',' (ASCII)",
    "\u2026": "write three dots as separate characters, or remove them",
}

MODEL_INPUTS_HELP = (
    "each model input is written NAME: [DIMS] (or NAME: float64[DIMS]), the shape of one "
    "sample, and several inputs are separated by commas: model m(image: [1, 28, 28], "
    "extra: [4])"
)
TUPLE_HELP = "pairs and shapes are lists in netspec: write [3, 3], not (3, 3)"


def _comma_in_parentheses(text: str, token: Token) -> list[str]:
    """Help for a ',' where it cannot stand: a Python tuple, or a model input without its
    shape."""
    before = text[: token.start_pos or 0]
    opened = _unclosed(before)
    if opened is None or opened[2] != "(":
        return []
    line, column, _ = opened
    start = sum(len(row) + 1 for row in before.split("\n")[: line - 1]) + column - 1
    if re.search(r"\bmodel\s+[A-Za-z_][A-Za-z0-9_]*\s*$", before[:start]):
        return [MODEL_INPUTS_HELP]
    return [TUPLE_HELP]


def _train_setting_called(text: str, token: Token) -> list[str]:
    """Help for `early_stopping(monitor = val_loss)` in a train section, written as a
    Keras call: a setting takes its arguments after its name, without parentheses."""
    before = text[: token.start_pos or 0]
    opened = _unclosed(before)
    if opened is None or opened[2] != "(":
        return []
    line, column, _ = opened
    row = text.split("\n")[line - 1]
    setting = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*", row[: column - 1])
    sections = list(re.finditer(r"\b(train|model|block)\s+[A-Za-z_][A-Za-z0-9_]*", before))
    if setting is None or not sections or sections[-1].group(1) != "train":
        return []
    arguments = row[column:].split("#", 1)[0].strip().removesuffix(")").strip()
    return [
        f"a train setting takes its arguments without parentheses: {setting.group(1)} {arguments}"
    ]


def _unclosed_help(text: str, file: str, labels: list[Label]) -> list[str]:
    """At the end of the file: label the last bracket left open, and say how to close it."""
    opened = _unclosed(text)
    if opened is None:
        return ["a '{' or '(' may be missing its closing partner"]
    line, column, char = opened
    span = Span.model_construct(
        file=file, line=line, column=column, end_line=line, end_column=column + 1
    )
    labels.append(Label.model_construct(span=span, message=f"this '{char}' is never closed"))
    return [f"add the missing '{_CLOSERS[char]}'"]


def _unclosed(text: str) -> tuple[int, int, str] | None:
    """(line, column, bracket) of the innermost bracket still open at the end of ``text``.

    Comments and strings are skipped; a closer that does not match is ignored (that is a
    different error, reported where it occurs).
    """
    stack: list[tuple[int, int, str]] = []
    line, column = 1, 1
    index = 0
    while index < len(text):
        char = text[index]
        if char == "#":
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
            continue
        if char == '"':
            end = index + 1
            while end < len(text) and text[end] not in '"\n':
                end += 2 if text[end] == "\\" else 1
            column += end + 1 - index
            index = end + 1
            continue
        if char in _CLOSERS:
            stack.append((line, column, char))
        elif stack and char == _CLOSERS[stack[-1][2]]:
            stack.pop()
        if char == "\n":
            line, column = line + 1, 1
        else:
            column += 1
        index += 1
    return stack[-1] if stack else None


def _word_before(text: str, token: Token) -> str:
    """The name written just before ``token`` (on any line), or ''."""
    match = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", text[: token.start_pos or 0])
    return match.group(1) if match else ""


def _end_position(text: str) -> tuple[int, int]:
    lines = text.splitlines() or [""]
    return len(lines), len(lines[-1]) + 1
