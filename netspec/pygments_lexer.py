"""A Pygments lexer for .net specs, registered as the ``netspec`` lexer.

Pygments finds it through the ``pygments.lexers`` entry point in pyproject.toml, so
``pygmentize -l netspec``, Sphinx and MkDocs colour ```netspec blocks once netspec is
installed with its ``highlight`` extra. The words it knows (keywords, ops, train
settings and values) are generated from the compiler's tables into
:mod:`netspec._highlight_words`, so loading the lexer imports no part of the compiler.
"""

from __future__ import annotations

from typing import ClassVar

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from netspec._highlight_words import CONSTANTS, KEYWORDS, OPS, TRAIN_KEYS, TRAIN_VALUES

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# A word only where it is a whole name: not part of a qualified name such as r.basic.
_WHOLE = {"prefix": r"(?<![\w.])", "suffix": r"\b(?!\.)"}


class NetspecLexer(RegexLexer):
    """Tokens of the netspec language: keywords, op calls, train settings, numbers,
    strings, comments and the ``->`` of chains."""

    name = "netspec"
    aliases: ClassVar[list[str]] = ["netspec"]
    filenames: ClassVar[list[str]] = ["*.net"]
    mimetypes: ClassVar[list[str]] = ["text/x-netspec"]

    tokens: ClassVar[dict[str, list]] = {
        "root": [
            (
                rf"\b(train)(\s+)({_NAME})(\s*)(\{{)",
                bygroups(Keyword, Whitespace, Name.Function, Whitespace, Punctuation),
                "train",
            ),
            (rf"\b(block|model)(\s+)({_NAME})", bygroups(Keyword, Whitespace, Name.Function)),
            (rf"\b(let|input)(\s+)({_NAME})", bygroups(Keyword, Whitespace, Name.Variable)),
            (
                rf"\b(import)(\s+)({_NAME}(?:\.{_NAME})*)",
                bygroups(Keyword, Whitespace, Name.Namespace),
            ),
            include("expression"),
        ],
        "train": [
            (r"\}", Punctuation, "#pop"),
            # A known setting at the start of its line; an unknown one stays a plain name.
            (
                words(TRAIN_KEYS, prefix=r"^([ \t]*)", suffix=r"\b"),
                bygroups(Whitespace, Name.Attribute),
            ),
            include("expression"),
        ],
        "expression": [
            # A line break alone, so that a train setting's rule sees the start of its line.
            (r"\n", Whitespace),
            (r"[^\S\n]+", Whitespace),
            (r"#.*$", Comment.Single),
            (r'"(?:[^"\\\n]|\\.)*"', String.Double),
            (words(KEYWORDS, **_WHOLE), Keyword),
            (words(CONSTANTS, **_WHOLE), Keyword.Constant),
            (words(OPS, **_WHOLE), Name.Builtin),
            (words(TRAIN_VALUES, **_WHOLE), Name.Builtin.Pseudo),
            (rf"{_NAME}(?:\.{_NAME})+", Name),
            (_NAME, Name),
            (r"(?:\d+(?:\.\d*)?|\.\d+)[eE][-+]?\d+|\d+\.\d*|\.\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r"->", Operator),
            (r"\*\*|//|[-+*/%=]", Operator),
            (r"[()\[\]{},:]", Punctuation),
        ],
    }
