"""Converters from spec values to typed IR fields, each with a precise error.

A converter returns the converted value or raises :class:`Invalid`, which the caller
reports as one diagnostic at the value's span.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from netspec.diagnostics import did_you_mean
from netspec.elaborate.hints import quoted_word
from netspec.elaborate.values import CallValue, Symbol, Value
from netspec.ir import init as ir_init
from netspec.ir.graph import Span
from netspec.ir.init import INIT_SCHEMES, Regularize

# A literal array may hold at most this many numbers; larger weights belong in a file.
MAX_LITERAL_VALUES = 100_000


class Invalid(Exception):
    def __init__(
        self,
        message: str,
        span: Span,
        help: Sequence[str] = (),
        code: str = "E006",
        *,
        unknown_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.help = tuple(help)
        self.code = code
        # A bare name where a number belongs: most likely a misspelt constant.
        self.unknown_name = unknown_name
        # Further problems of the same call (every unknown argument, not only the first).
        self.others: tuple[Invalid, ...] = ()

    @classmethod
    def all_of(cls, problems: Sequence[Invalid]) -> Invalid:
        """One exception carrying several problems, each reported on its own."""
        first = problems[0]
        first.others = tuple(problems[1:])
        return first

    def each(self) -> tuple[Invalid, ...]:
        """This problem and the others found with it, in source order."""
        return (self, *self.others)

    def help_in(self, constants: Iterable[str]) -> tuple[str, ...]:
        """The help lines, with a did-you-mean over ``constants`` for a misspelt one."""
        if self.help or self.unknown_name is None:
            return self.help
        names = [c for c in constants if not c.startswith("_")]
        return tuple(did_you_mean(self.unknown_name, names)) or (
            f"define it first: let {self.unknown_name} = ...",
        )


Converter = Callable[[Value], Any]


def _symbol(value: Value) -> str | None:
    return value.data.name if isinstance(value.data, Symbol) else None


def integer(value: Value, what: str = "an integer") -> int:
    data = value.data
    if isinstance(data, bool) or not isinstance(data, int | float):
        raise Invalid(
            f"expected {what}, found {value.describe()}", value.span, unknown_name=_symbol(value)
        )
    if isinstance(data, float):
        if not data.is_integer():
            raise Invalid(
                f"expected {what}, found {data!r}",
                value.span,
                ["use // for integer division"] if data != round(data, 0) else [],
            )
        data = int(data)
    return data


def positive_int(value: Value) -> int:
    number = integer(value, "a positive integer")
    if number <= 0:
        raise Invalid(f"expected a positive integer, found {number}", value.span, code="E004")
    return number


def non_negative_int(value: Value) -> int:
    number = integer(value, "an integer >= 0")
    if number < 0:
        raise Invalid(f"expected an integer >= 0, found {number}", value.span, code="E004")
    return number


def real(value: Value) -> float:
    data = value.data
    if isinstance(data, bool) or not isinstance(data, int | float):
        raise Invalid(
            f"expected a number, found {value.describe()}",
            value.span,
            unknown_name=_symbol(value),
        )
    return float(data)


def positive_real(value: Value) -> float:
    number = real(value)
    if number <= 0:
        raise Invalid(f"expected a number > 0, found {number:g}", value.span, code="E004")
    return number


def non_negative_real(value: Value) -> float:
    number = real(value)
    if number < 0:
        raise Invalid(f"expected a number >= 0, found {number:g}", value.span, code="E004")
    return number


def fraction(value: Value) -> float:
    number = real(value)
    if not 0.0 <= number < 1.0:
        raise Invalid(f"expected a fraction in [0, 1), found {number:g}", value.span, code="E004")
    return number


def boolean(value: Value) -> bool:
    if isinstance(value.data, bool):
        return value.data
    if isinstance(value.data, Symbol):
        raise Invalid(
            f"expected true or false, found {value.describe()}",
            value.span,
            did_you_mean(value.data.name, ("true", "false")),
        )
    raise Invalid(f"expected true or false, found {value.describe()}", value.span)


def string(value: Value) -> str:
    if isinstance(value.data, str):
        return value.data
    raise Invalid(f"expected a string in double quotes, found {value.describe()}", value.span)


def word(*choices: str) -> Converter:
    """One of a fixed set of bare words (``padding = same``)."""

    def convert(value: Value) -> str:
        if isinstance(value.data, Symbol) and value.data.name in choices:
            return value.data.name
        options = " or ".join(choices)
        help = did_you_mean(value.data.name, choices) if isinstance(value.data, Symbol) else []
        if isinstance(value.data, str):
            help = quoted_word(value.data, choices)
        raise Invalid(f"expected {options}, found {value.describe()}", value.span, help)

    return convert


def pair(value: Value) -> tuple[int, int]:
    """An int used for both axes, or [height, width]."""
    if isinstance(value.data, tuple):
        if len(value.data) != 2:
            raise Invalid(
                f"expected [height, width], found a list of {len(value.data)}", value.span
            )
        return (positive_int(value.data[0]), positive_int(value.data[1]))
    number = positive_int(value)
    return (number, number)


def padding(value: Value) -> Any:
    """``same`` | ``valid`` | p | [ph, pw] | [[top, bottom], [left, right]]."""
    data = value.data
    if isinstance(data, Symbol):
        return word("same", "valid")(value)
    if isinstance(data, str):
        raise Invalid(
            f"expected same, valid, a number or a list, found {value.describe()}",
            value.span,
            quoted_word(data, ("same", "valid")) or ["padding = same, valid, 1 or [1, 2]"],
        )
    if isinstance(data, tuple):
        if len(data) != 2:
            raise Invalid(
                f"expected padding [height, width], found a list of {len(data)}", value.span
            )
        if all(isinstance(item.data, tuple) for item in data):
            sides = []
            for item in data:
                inner = item.data
                assert isinstance(inner, tuple)
                if len(inner) != 2:
                    raise Invalid("expected [before, after] padding", item.span)
                sides.append((non_negative_int(inner[0]), non_negative_int(inner[1])))
            return (sides[0], sides[1])
        ph, pw = non_negative_int(data[0]), non_negative_int(data[1])
        return ((ph, ph), (pw, pw))
    p = non_negative_int(value)
    return ((p, p), (p, p))


def padding1d(value: Value) -> Any:
    """The padding of a [channels, length] op: ``same`` | ``valid`` | p | [left, right]."""
    data = value.data
    if isinstance(data, Symbol):
        return word("same", "valid")(value)
    if isinstance(data, str):
        raise Invalid(
            f"expected same, valid, a number or [left, right], found {value.describe()}",
            value.span,
            quoted_word(data, ("same", "valid")) or ["padding = same, valid, 1 or [1, 2]"],
        )
    if isinstance(data, tuple):
        nested = any(isinstance(item.data, tuple) for item in data)
        if len(data) != 2 or nested:
            found = "a nested list" if nested else f"a list of {len(data)}"
            raise Invalid(
                f"expected padding [left, right], found {found}",
                value.span,
                ["a [channels, length] sample has one axis to pad: padding = 1 or [1, 2]"],
            )
        return (non_negative_int(data[0]), non_negative_int(data[1]))
    p = non_negative_int(value)
    return (p, p)


def int_list(value: Value) -> tuple[int, ...]:
    if not isinstance(value.data, tuple):
        return (integer(value),)
    return tuple(integer(item) for item in value.data)


def array(value: Value) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """A rectangular nested list of numbers: its shape and its values, row-major."""
    if not isinstance(value.data, tuple):
        raise Invalid(f"expected a list of numbers, found {value.describe()}", value.span)
    shape: list[int] = []
    probe: Value = value
    while isinstance(probe.data, tuple):
        if not probe.data:
            raise Invalid("expected a non-empty list", probe.span, code="E013")
        shape.append(len(probe.data))
        probe = probe.data[0]
    if math.prod(shape) > MAX_LITERAL_VALUES:
        raise Invalid(
            f"literal array of {math.prod(shape)} numbers exceeds the limit of "
            f"{MAX_LITERAL_VALUES}",
            value.span,
            ["load large weights from a file instead"],
            code="E021",
        )
    flat: list[float] = []

    def walk(item: Value, depth: int) -> None:
        if depth == len(shape):
            flat.append(real(item))
            return
        if not isinstance(item.data, tuple):
            raise Invalid(
                f"ragged array: expected a list of {shape[depth]} here, found {item.describe()}",
                item.span,
                code="E013",
            )
        if len(item.data) != shape[depth]:
            raise Invalid(
                f"ragged array: expected {shape[depth]} entries at depth {depth + 1}, "
                f"found {len(item.data)}",
                item.span,
                code="E013",
            )
        for child in item.data:
            walk(child, depth + 1)

    walk(value, 0)
    return tuple(shape), tuple(flat)


_INIT_POSITIONAL: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "normal": ("mean", "std"),
    "uniform": ("low", "high"),
    "xavier_normal": ("gain",),
    "xavier_uniform": ("gain",),
    "he_normal": ("mode",),
    "he_uniform": ("mode",),
    "orthogonal": ("gain",),
}
_INIT_CLASSES: dict[str, type] = {
    "zeros": ir_init.Zeros,
    "ones": ir_init.Ones,
    "constant": ir_init.Constant,
    "normal": ir_init.Normal,
    "uniform": ir_init.Uniform,
    "xavier_normal": ir_init.XavierNormal,
    "xavier_uniform": ir_init.XavierUniform,
    "he_normal": ir_init.HeNormal,
    "he_uniform": ir_init.HeUniform,
    "lecun_normal": ir_init.LecunNormal,
    "orthogonal": ir_init.Orthogonal,
}


def init_scheme(value: Value) -> Any:
    """``he_normal``, ``he_normal(mode = fan_out)``, ``normal(0, 0.01)`` or a number."""
    data = value.data
    if isinstance(data, bool):
        raise Invalid(f"expected an init scheme, found {data}", value.span)
    if isinstance(data, int | float):
        return ir_init.Constant.model_construct(value=float(data))
    if isinstance(data, tuple):
        shape, values = array(value)
        return ir_init.LiteralValues.model_construct(shape=shape, values=values)
    if isinstance(data, Symbol):
        return _init_from(data.name, (), (), value.span)
    if isinstance(data, CallValue):
        return _init_from(data.name, data.args, data.kwargs, value.span)
    raise Invalid(f"expected an init scheme, found {value.describe()}", value.span)


def _init_from(
    name: str,
    args: tuple[Value, ...],
    kwargs: tuple[tuple[str, Value, Span], ...],
    span: Span,
) -> Any:
    if name not in _INIT_CLASSES:
        raise Invalid(
            f"unknown init scheme '{name}'",
            span,
            did_you_mean(name, INIT_SCHEMES) or [f"known schemes: {', '.join(INIT_SCHEMES)}"],
            code="E002",
        )
    cls = _INIT_CLASSES[name]
    positional = _INIT_POSITIONAL.get(name, ())
    if len(args) > len(positional):
        raise Invalid(
            f"{name} takes at most {len(positional)} positional argument"
            f"{'s' if len(positional) != 1 else ''}, found {len(args)}",
            args[len(positional)].span,
            code="E004",
        )
    fields: dict[str, Any] = {}
    pairs = [(key, arg, arg.span) for key, arg in zip(positional, args, strict=False)]
    pairs += list(kwargs)
    allowed = [f for f in cls.model_fields if f != "scheme"]
    unknown = [
        Invalid(
            f"{name} has no argument '{key}'",
            key_span,
            did_you_mean(key, allowed)
            or ([f"its arguments: {', '.join(allowed)}"] if allowed else ["it takes none"]),
            code="E004",
        )
        for key, _, key_span in pairs
        if key not in allowed
    ]
    if unknown:
        raise Invalid.all_of(unknown)
    for key, arg, key_span in pairs:
        if key in fields:
            raise Invalid(f"argument '{key}' is given twice", key_span, code="E003")
        if key == "mode":
            fields[key] = word("fan_in", "fan_out")(arg)
        else:
            fields[key] = real(arg)
    if name == "normal" and fields.get("std", 1.0) < 0:
        raise Invalid("normal std must be >= 0", span, code="E004")
    if name == "uniform" and fields.get("low", -0.05) > fields.get("high", 0.05):
        raise Invalid("uniform needs low <= high", span, code="E004")
    missing = [f for f in allowed if cls.model_fields[f].is_required() and f not in fields]
    if missing:
        raise Invalid(
            f"{name} needs the argument '{missing[0]}'",
            span,
            [f"for example: {name}({', '.join(m + ' = 0.1' for m in missing)})"],
            code="E005",
        )
    return cls.model_construct(**fields)


_PENALTIES = ("l2", "l1", "max_norm")


def regularize(value: Value) -> Regularize:
    """``none``, ``l2(1e-4)``, ``l1(1e-5)``, ``max_norm(3)`` or a list of them."""
    data = value.data
    items = data if isinstance(data, tuple) else (value,)
    found: dict[str, float] = {}
    for item in items:
        inner = item.data
        if isinstance(inner, Symbol) and inner.name == "none" and len(items) == 1:
            return Regularize.model_construct()
        if isinstance(inner, Symbol) and inner.name == "none":
            raise Invalid(
                "none cannot be combined with penalties",
                item.span,
                ["drop none, or give only none"],
                code="E004",
            )
        if not isinstance(inner, CallValue) or inner.name not in _PENALTIES:
            name = inner.name if isinstance(inner, Symbol | CallValue) else ""
            raise Invalid(
                f"expected l2(x), l1(x), max_norm(c) or none, found {item.describe()}",
                item.span,
                (did_you_mean(name, (*_PENALTIES, "none")) if name else [])
                or ["for example: l2(1e-4), l1(1e-5), max_norm(3) or none"],
            )
        if len(inner.args) != 1 or inner.kwargs:
            raise Invalid(
                f"{inner.name} takes one number, e.g. {inner.name}(1e-4)", item.span, code="E004"
            )
        if inner.name in found:
            raise Invalid(f"{inner.name} is given twice", item.span, code="E003")
        strength = non_negative_real(inner.args[0])
        if inner.name == "max_norm" and strength == 0:
            raise Invalid("max_norm needs a bound > 0", inner.args[0].span, code="E004")
        found[inner.name] = strength
    return Regularize.model_construct(
        l2=found.get("l2", 0.0), l1=found.get("l1", 0.0), max_norm=found.get("max_norm")
    )


def optional_integer(value: Value) -> int | None:
    """An integer, or ``none`` for a value left open (a slice's ``stop``)."""
    if isinstance(value.data, Symbol) and value.data.name == "none":
        return None
    return integer(value, "an integer or none")
