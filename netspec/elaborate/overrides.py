"""``--set KEY=VALUE``: values that replace what a spec writes, before it is checked.

A value is spec text, parsed with the spec's own grammar and elaborated like the spec,
so a bad one is a diagnostic located in the override itself. The overrides of one
analysis are shown as a source of their own, :data:`FILE`, one ``--set KEY=VALUE``
per line, so that a diagnostic draws its caret under the value::

    <overrides>:1:21: error[E004]: dense: units must be an integer, found the name 'abc'
      |
    1 | --set dense_1.units=abc
      |                     ^^^

Keys (a model's name goes first, ``mlp.dense_1.units``, where several models could
match):

* ``let.NAME``: a ``let`` constant of the file;
* ``NODE.ARG``: an argument of the layer that makes node NODE (as ``netspec summary``
  names it: ``dense_1``, ``h``, ``res_1.conv2d_1``);
* ``SETTING``: a train setting (``epochs``, ``optimizer``, ``metrics``, ...), written as
  in the train section (``--set "metrics=accuracy, top_k_accuracy(5)"``);
* ``SETTING.ARG``: one argument of a train setting (``optimizer.lr``, ``data.limit``,
  ``early_stopping.patience``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lark import Token, Tree

from netspec.diagnostics import Diagnostics, did_you_mean
from netspec.elaborate.spaces import has_space
from netspec.elaborate.values import INIT_KEYS, Evaluator, Value
from netspec.errors import NetspecError
from netspec.ir.graph import Span
from netspec.syntax.parser import parse

FILE = "<overrides>"
PREFIX = "--set "
# What the grammar parses a value in: a train setting's arguments, so that a setting of
# several values (metrics) is written as in a train section; every other key takes one.
_WRAPPER = "train _ {k "
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")

OverrideInput = Sequence[str] | Mapping[str, object]


@dataclass
class Override:
    """One ``KEY=VALUE``: its key's parts, where each is shown, and the parsed value (the
    arguments of a train setting: expression trees, and ``kwarg`` trees)."""

    key: str
    text: str
    key_span: Span
    value_span: Span
    args: tuple[Tree | Token, ...]
    used: bool = False
    # The models whose nodes an unqualified layer key matched.
    matched: set[str] = field(default_factory=set)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))

    def part_span(self, index: int) -> Span:
        """The span of the key's ``index``-th part (negative counts from the end)."""
        parts = self.parts
        index %= len(parts)
        start = self.key_span.column + sum(len(p) + 1 for p in parts[:index])
        return Span.model_construct(
            file=FILE,
            line=self.key_span.line,
            column=start,
            end_line=self.key_span.line,
            end_column=start + len(parts[index]),
        )


@dataclass
class Overrides:
    """The overrides of one analysis, and which of them found their target."""

    items: list[Override] = field(default_factory=list)
    source: str = ""

    def __bool__(self) -> bool:
        return bool(self.items)

    def let(self, name: str) -> Override | None:
        """The override of constant ``name`` (the last one, when given twice)."""
        found = [o for o in self.items if o.parts[:1] == ("let",) and o.parts[1:] == (name,)]
        for o in found:
            o.used = True
        return found[-1] if found else None

    def scoped(self, model: str, models: Iterable[str]) -> list[tuple[Override, tuple[str, ...]]]:
        """The overrides that may concern ``model``, each with its key's parts after the
        model's name (a key naming another model is left out)."""
        names = set(models)
        result = []
        for o in self.items:
            parts = o.parts
            if parts[0] == "let":
                continue
            if parts[0] in names and len(parts) > 1:
                if parts[0] == model:
                    result.append((o, parts[1:]))
                continue
            result.append((o, parts))
        return result


def format_value(value: object, key: str = "") -> str:
    """A Python value as spec text: numbers and booleans as literals, strings as they are
    (they are spec text: ``"adam(lr = 1e-3)"``, ``"relu"``); a NetspecError for any
    other value, naming ``key``."""
    where = f"{key}: " if key else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NetspecError(f"{where}{value!r} is not a number a spec can hold")
        return repr(value)
    if isinstance(value, str):
        return value
    raise NetspecError(
        f"{where}a value is a number, a boolean or spec text (a str), found {value!r}"
    )


def normalize(overrides: OverrideInput | None) -> tuple[str, ...]:
    """``KEY=VALUE`` strings from a sequence of them or a mapping of keys to values."""
    if overrides is None:
        return ()
    if isinstance(overrides, str):
        return (overrides,)
    if isinstance(overrides, Mapping):
        return tuple(f"{key}={format_value(value, key)}" for key, value in overrides.items())
    return tuple(overrides)


def parse_overrides(items: Sequence[str], diagnostics: Diagnostics) -> Overrides:
    """Parse each ``KEY=VALUE``; every malformed one is an E026 (or E001) diagnostic."""
    result = Overrides()
    lines: list[str] = []
    line = 1
    for item in items:
        shown = PREFIX + item
        lines.append(shown)
        parsed = _parse_one(item, line, diagnostics)
        if parsed is not None:
            result.items.append(parsed)
        line += shown.count("\n") + 1
    result.source = "\n".join(lines) + "\n" if lines else ""
    return result


def _span(line: int, column: int, end: int) -> Span:
    return Span.model_construct(file=FILE, line=line, column=column, end_line=line, end_column=end)


def _parse_one(item: str, line: int, diagnostics: Diagnostics) -> Override | None:
    start = len(PREFIX) + 1
    key, equals, text = item.partition("=")
    stripped = key.strip()
    if not equals:
        diagnostics.error(
            "E026",
            f"an override is KEY=VALUE, found '{item}'",
            _span(line, start, start + max(1, len(item))),
            help=['e.g. --set epochs=3, --set optimizer="adam(lr = 1e-3)"'],
        )
        return None
    key_column = start + (len(key) - len(key.lstrip()))
    key_span = _span(line, key_column, key_column + max(1, len(stripped)))
    if not _KEY.fullmatch(stripped):
        diagnostics.error(
            "E026",
            f"'{stripped}' is not an override key",
            key_span,
            help=[
                "a key is let.NAME, NODE.ARG, a train setting or SETTING.ARG, with the "
                "model's name first where the spec has several: mlp.dense_1.units"
            ],
        )
        return None
    value_column = start + len(key) + 1
    if not text.strip():
        diagnostics.error(
            "E026",
            f"the override of '{stripped}' gives no value",
            _span(line, value_column - 1, value_column),
            help=[f"write one after the '=': {stripped}=..."],
        )
        return None
    value_span = _span(line, value_column, value_column + len(text.split("\n", 1)[0]))
    args = _parse_value(text, line, value_column, value_span, diagnostics)
    if args is None:
        return None
    return Override(stripped, text.strip(), key_span, value_span, args)


def _parse_value(
    text: str, line: int, column: int, value_span: Span, diagnostics: Diagnostics
) -> tuple[Tree | Token, ...] | None:
    """The value's argument trees, positioned where the value is shown."""
    own = Diagnostics()
    tree = parse(_WRAPPER + text + "\n}\n", FILE, own)
    if tree is None:
        for problem in own.items:
            span = problem.span
            message = problem.message.replace("end of the file", "end of the value")
            if span is not None and span.line > text.count("\n") + 1:
                span = None  # the closing line after the value: at the value's end
                message = message.replace("found '}'", "found the end of the value")
            elif re.match(r"expected .*'}'.*, found ", message):
                # The value could have ended here: that is what is missing.
                message = "expected the end of the value, found " + message.split(", found ")[-1]
            diagnostics.error(
                problem.code,
                message,
                _shift_span(span, line, column) if span is not None else _end(value_span),
                help=list(problem.help),
            )
        return None
    items = [i for i in tree.children if isinstance(i, Tree)]
    settings = items[0].children[1:] if len(items) == 1 else []
    if len(items) != 1 or len(settings) != 1:
        diagnostics.error(
            "E026",
            "an override's value is one value (or, for a train setting, its arguments)",
            value_span,
            help=['quote it whole for the shell: --set "optimizer=adam(lr = 1e-3)"'],
        )
        return None
    args = tuple(settings[0].children[1:])
    for node in args:
        _shift(node, line, column)
    return args


def _end(span: Span) -> Span:
    return span.model_copy(update={"column": span.end_column, "end_column": span.end_column + 1})


def _shift_span(span: Span, line: int, column: int) -> Span:
    def at(row: int, col: int) -> tuple[int, int]:
        if row == 1:
            return line, col - len(_WRAPPER) + column - 1
        return row + line - 1, col

    start = at(span.line, span.column)
    end = at(span.end_line, span.end_column)
    return span.model_copy(
        update={"line": start[0], "column": start[1], "end_line": end[0], "end_column": end[1]}
    )


def _shift(node: Tree | Token, line: int, column: int) -> None:
    """Move the positions of a tree parsed after the wrapper to where the value is shown:
    ``line`` of the overrides' text, its first line starting at ``column``."""

    def move(thing: object) -> None:
        row = getattr(thing, "line", None)
        if row is None:
            return
        col = thing.column  # type: ignore[attr-defined]
        end_row, end_col = thing.end_line, thing.end_column  # type: ignore[attr-defined]
        if row == 1:
            col = col - len(_WRAPPER) + column - 1
        if end_row == 1:
            end_col = end_col - len(_WRAPPER) + column - 1
        thing.line, thing.column = row + line - 1, col  # type: ignore[attr-defined]
        thing.end_line, thing.end_column = end_row + line - 1, end_col  # type: ignore[attr-defined]

    if isinstance(node, Token):
        move(node)
        return
    for subtree in node.iter_subtrees():
        if not subtree.meta.empty:
            move(subtree.meta)
        for child in subtree.children:
            if isinstance(child, Token):
                move(child)


def unknown_key(
    override: Override,
    candidates: Iterable[str],
    diagnostics: Diagnostics,
    message: str,
    help: Sequence[str] = (),
) -> None:
    """An E026 at the key of an override that found no target."""
    pool = list(dict.fromkeys(candidates))
    diagnostics.error(
        "E026",
        message,
        override.key_span,
        help=did_you_mean(override.key, pool) or list(help),
    )


def evaluate(
    override: Override, evaluator: Evaluator, env: Mapping[str, Value], *, scheme: bool = False
) -> tuple[list[Value], list[tuple[str, Value, Span]]] | None:
    """The override's value as a train setting's arguments (positional, named), evaluated
    against the file's constants; None once a problem is reported. ``scheme``: the value
    stands for an init scheme."""
    args: list[Value] = []
    kwargs: list[tuple[str, Value, Span]] = []
    for node in override.args:
        if isinstance(node, Tree) and node.data == "kwarg":
            key, expr = node.children
            value = evaluator.evaluate(expr, env, scheme=str(key) in INIT_KEYS)
            if value is None:
                return None
            kwargs.append((str(key), value, evaluator.span(key)))
        else:
            value = evaluator.evaluate(node, env, scheme=scheme)
            if value is None:
                return None
            args.append(value)
    for value in [*args, *(v for _, v, _ in kwargs)]:
        if has_space(value):
            evaluator.diagnostics.error(
                "E026",
                "an override fixes a value; a search space is written in the spec",
                override.value_span,
                help=["write the space in the spec, where `netspec sweep` can fill it in"],
            )
            return None
    return args, kwargs


def one_value(
    override: Override, evaluator: Evaluator, env: Mapping[str, Value], *, scheme: bool = False
) -> Value | None:
    """The override's value where one value stands (a constant, a layer's argument)."""
    evaluated = evaluate(override, evaluator, env, scheme=scheme)
    if evaluated is None:
        return None
    args, kwargs = evaluated
    if kwargs or len(args) != 1:
        evaluator.diagnostics.error(
            "E026",
            f"'{override.key}' takes one value, found "
            + ("'name = value'" if kwargs else f"{len(args)} values"),
            override.value_span,
            help=['quote a call whole for the shell: --set "dense_1.init=normal(std = 0.1)"'],
        )
        return None
    return args[0]
