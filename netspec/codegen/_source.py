"""Source-text helpers shared by the generators: literals, wrapping, copied functions."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

INDENT = "    "
# Generated lines are kept to this width where a line can be split.
WIDTH = 99


def number(value: float | int | bool) -> str:
    """A Python literal for a number from the IR: repr, with inf and nan spelt out."""
    if isinstance(value, bool | int):
        return repr(value)
    value = float(value)
    if math.isnan(value):
        return 'float("nan")'
    if math.isinf(value):
        return 'float("inf")' if value > 0 else '-float("inf")'
    return repr(value)


def text(value: str) -> str:
    """A string literal for a name from the IR, double-quoted where that is plain."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return repr(value)


def literal(value: object) -> str:
    """Python source for a static argument of an op function: numbers (inf and nan spelt
    out), strings, None and tuples of them; anything else is refused, never pasted."""
    if isinstance(value, tuple):
        items = [literal(item) for item in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, str):
        return text(value)
    if value is None:
        return "None"
    if isinstance(value, bool | int | float):
        return number(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a literal")


def shape_literal(shape: tuple[int, ...]) -> str:
    """``(3,)``, ``(2, 3)``: a tuple literal of ints."""
    items = ", ".join(str(int(d)) for d in shape)
    return f"({items},)" if len(shape) == 1 else f"({items})"


def packed(items: list[str], indent: int) -> list[str]:
    """Comma-terminated items packed onto lines that fit the width after ``indent``."""
    rows: list[str] = []
    row = ""
    for item in items:
        piece = f"{item},"
        if row and indent + len(row) + 1 + len(piece) > WIDTH:
            rows.append(row)
            row = piece
        else:
            row = f"{row} {piece}" if row else piece
    return [*rows, row] if row else rows


def sequence(head: str, items: list[str], indent: int, brackets: str = "[]") -> list[str]:
    """``head[a, b, ...]`` on one line, or wrapped over several when it is too long."""
    flat = f"{head}{brackets[0]}{', '.join(items)}{brackets[1]}"
    if indent + len(flat) <= WIDTH:
        return [flat]
    rows = [f"    {row}" for row in packed(items, indent + 4)]
    return [f"{head}{brackets[0]}", *rows, brackets[1]]


def function_source(fn: Callable[..., object]) -> str:
    """The source of a top-level function of netspec, to copy into a generated module."""
    return inspect.getsource(fn).rstrip() + "\n"


def constants(module: object, names: tuple[str, ...]) -> str:
    """``NAME = value`` for module constants (numbers, tuples of floats), wrapped."""
    out = []
    for name in names:
        value = getattr(module, name)
        if isinstance(value, tuple):
            out += sequence(f"{name} = ", [repr(v) for v in value], 0, "()")
        else:
            out.append(f"{name} = {value!r}")
    return "\n".join(out) + "\n"
