"""Search spaces during elaboration: their own checks, where they may stand, and the
values a spec is checked with.

``uniform(a, b)``, ``log_uniform(a, b)``, ``int_uniform(a, b)`` and ``choice(x, ...)``
evaluate to a :class:`~netspec.elaborate.values.Space`. The program is elaborated with
each space at its *representative* (the low end of a range, the first option of a
choice), so that shapes infer and the summary has figures; every other end and option
(and for a real range a value inside it that is not an integer) is converted too, with
the converter of the argument the space stands for, so that a space with a value that
does not fit (``dense(int_uniform(0, 10))``: units must be >= 1) is an error at that
value.

Each space is named by a *path*, the ``--set`` key of where it stands (see
:mod:`netspec.ir.space`); :class:`SpaceRegistry` records them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from netspec.diagnostics import Label
from netspec.elaborate.values import CallValue, EvalError, Space, Value
from netspec.ir import space as ir
from netspec.ir.graph import Span

SPACE_NOTE = "every value of a search space must fit where it stands"
PLACES = (
    "a search space may stand as a let's value, a layer's argument in a model, a train "
    "setting or an argument of one; elsewhere (a repeat count, a block's body or "
    "argument) through a let"
)


def make_space(
    kind: str, args: Sequence[Value], kwargs: Sequence[tuple[str, Value, Span]], span: Span
) -> Space:
    """The space ``kind(args)``, or an :class:`EvalError` (E025) saying what is wrong."""
    if kwargs:
        raise EvalError(
            f"{kind} takes no named arguments, found '{kwargs[0][0]}'",
            kwargs[0][2],
            (_EXAMPLES[kind],),
            code="E025",
        )
    for arg in args:
        if has_space(arg):
            raise EvalError(
                f"a search space cannot hold another: {kind}(...) has one inside",
                arg.span,
                ("a space's bounds and options are values",),
                code="E025",
            )
    if kind == "choice":
        if not args:
            raise EvalError("choice needs at least one option", span, (_EXAMPLES[kind],), "E025")
        return Space(kind, tuple(args), span)
    if len(args) != 2:
        raise EvalError(
            f"{kind} takes two bounds, low and high, found {len(args)} argument"
            f"{'s' if len(args) != 1 else ''}",
            span,
            (_EXAMPLES[kind],),
            code="E025",
        )
    low, high = args
    for bound in (low, high):
        data = bound.data
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise EvalError(
                f"{kind} takes numbers as its bounds, found {bound.describe()}",
                bound.span,
                (_EXAMPLES[kind],),
                code="E025",
            )
        if kind == "int_uniform" and not isinstance(data, int):
            raise EvalError(
                f"int_uniform takes integer bounds, found {data!r}",
                bound.span,
                ("for real numbers use uniform(low, high)",),
                code="E025",
            )
    assert isinstance(low.data, int | float) and isinstance(high.data, int | float)
    if not low.data < high.data:
        raise EvalError(
            f"{kind}: the low bound must be below the high one, found low = {low.data!r}, "
            f"high = {high.data!r}",
            span,
            ("a value that is not searched is written as itself",),
            code="E025",
        )
    if kind == "log_uniform" and low.data <= 0:
        raise EvalError(
            f"log_uniform needs bounds above 0, found low = {low.data!r}",
            low.span,
            ("for a range that includes 0 use uniform(low, high)",),
            code="E025",
        )
    if kind != "int_uniform":
        # Drawn values are real numbers: an integer argument refuses them here already.
        low, high = Value(float(low.data), low.span), Value(float(high.data), high.span)
    return Space(kind, (low, high), span)


_EXAMPLES = {
    "uniform": "e.g. dropout(uniform(0.1, 0.5))",
    "log_uniform": "e.g. optimizer adam(lr = log_uniform(1e-5, 1e-2))",
    "int_uniform": "e.g. dense(int_uniform(32, 512))",
    "choice": "e.g. choice(sgd(lr = 0.1), adam(lr = 1e-3)) or activation = choice(relu, tanh)",
}


def spaces_in(value: Value) -> Iterator[Space]:
    """Every space ``value`` holds: itself, or inside a call's arguments or a list."""
    data = value.data
    if isinstance(data, Space):
        yield data
    elif isinstance(data, CallValue):
        for arg in data.args:
            yield from spaces_in(arg)
        for _, arg, _ in data.kwargs:
            yield from spaces_in(arg)
    elif isinstance(data, tuple):
        for item in data:
            yield from spaces_in(item)


def has_space(value: Value) -> bool:
    """Whether ``value`` holds a search space anywhere."""
    return any(True for _ in spaces_in(value))


def concrete(value: Value, chosen: Mapping[Space, Value] | None = None) -> Value:
    """``value`` with each space replaced by its value in ``chosen``, or by its
    representative (the low end, the first option)."""
    data = value.data
    if isinstance(data, Space):
        picked = (chosen or {}).get(data, data.options[0])
        return picked
    if isinstance(data, CallValue):
        return Value(
            CallValue(
                data.name,
                tuple(concrete(a, chosen) for a in data.args),
                tuple((k, concrete(a, chosen), s) for k, a, s in data.kwargs),
            ),
            value.span,
        )
    if isinstance(data, tuple):
        return Value(tuple(concrete(item, chosen) for item in data), value.span)
    return value


def probes(space: Space) -> tuple[Value, ...]:
    """The values of ``space`` checked besides its representative: the other end or the
    other options, and for a real range a value inside it that is not an integer (so
    that a real range where an integer stands is found, whatever its ends)."""
    others = space.options[1:]
    if space.kind in ("uniform", "log_uniform"):
        low, high = (float(option.data) for option in space.options)  # type: ignore[arg-type]
        for fraction in (0.5, 1 / 3, 1 / 7, 1 / 11):
            inside = low + (high - low) * fraction
            if not inside.is_integer():
                return (*others, Value(inside, space.span))
    return others


@dataclass(frozen=True)
class Probe:
    """One value of a space that is checked (see :func:`variants`)."""

    space: Space
    value: Value
    # A help line for a value that is not written (inside a real range), or None.
    hint: str | None

    def label(self, at: Span) -> list[Label]:
        """A label at the space for a problem reported at ``at``, outside it."""
        if _inside(at, self.space.span):
            return []
        shown = f"{self.value.data:g}" if isinstance(self.value.data, float) else "this value"
        return [Label.model_construct(span=self.space.span, message=f"with {shown} from here")]


def _inside(inner: Span, outer: Span) -> bool:
    return (
        inner.file == outer.file
        and (inner.line, inner.column) >= (outer.line, outer.column)
        and (inner.end_line, inner.end_column) <= (outer.end_line, outer.end_column)
    )


def variants(values: Sequence[Value]) -> Iterator[tuple[tuple[Value, ...], Probe]]:
    """``values`` once for each probe (:func:`probes`) of each space in them, every other
    space at its representative: what must convert too; each with its :class:`Probe`."""
    seen: set[Space] = set()
    for value in values:
        for space in spaces_in(value):
            if space in seen:
                continue
            seen.add(space)
            for option in probes(space):
                help = (
                    None
                    if option in space.options
                    else f"{space.kind} draws real numbers, {option.data:g} for one: for an "
                    "integer write int_uniform(low, high)"
                )
                chosen = tuple(concrete(v, {space: option}) for v in values)
                yield chosen, Probe(space, option, help)


def call_concrete(call: CallValue | None) -> CallValue | None:
    """A layer call with every space at its representative."""
    if call is None:
        return None
    result = concrete(Value(call, _NOWHERE)).data
    assert isinstance(result, CallValue)
    return result


_NOWHERE = Span.model_construct(file="", line=1, column=1, end_line=1, end_column=1)


@dataclass
class SpaceRegistry:
    """The spaces of the analysed file, by where they are written, with their paths."""

    file: str
    paths: dict[Span, str] = field(default_factory=dict)
    spaces: dict[Span, Space] = field(default_factory=dict)

    def known(self, space: Space) -> bool:
        return space.span in self.paths

    def register(self, space: Space, path: str) -> None:
        """Name ``space`` by ``path``; a space already named keeps its first path."""
        self.paths.setdefault(space.span, path)
        self.spaces.setdefault(space.span, space)

    def place(self, value: Value, path: str, *, direct: bool) -> list[EvalError]:
        """Register the spaces of ``value``, a value standing at ``path``: a space that is
        ``value`` itself (``direct``) is named by ``path``; one already named (a let's) is
        fine anywhere; any other cannot stand where it is."""
        problems: list[EvalError] = []
        for space in spaces_in(value):
            if self.known(space):
                continue
            if direct and value.data is space and space.span.file == self.file:
                if path not in self.paths.values():
                    self.register(space, path)
                    continue
                problems.append(
                    EvalError(
                        f"a second search space at '{path}' (several values written as one "
                        "argument)",
                        space.span,
                        ("name each with a let and use the names",),
                        code="E025",
                    )
                )
                continue
            if space.span.file != self.file:
                problems.append(
                    EvalError(
                        f"a search space of an imported file ({space.span.file}): a spec's "
                        "search spaces are written in the spec itself",
                        space.span,
                        ("write the space in the spec and pass the value to the import's block",),
                        code="E025",
                    )
                )
                continue
            problems.append(
                EvalError(
                    f"a search space cannot stand here: {PLACES}",
                    space.span,
                    ("name it with a let and use the name: let width = int_uniform(32, 256)",),
                    code="E025",
                )
            )
        return problems


def site(space: Space, path: str, source: str) -> ir.SpaceSite:
    """The IR of one space, with the spec text of it and of a choice's options."""
    text = span_text(source, space.span)
    if space.kind == "choice":
        options = tuple(_option(option, source) for option in space.options)
        shape: ir.Uniform | ir.LogUniform | ir.IntUniform | ir.Choice
        shape = ir.Choice.model_construct(kind="choice", options=options)
    else:
        low, high = (option.data for option in space.options)
        model = {"uniform": ir.Uniform, "log_uniform": ir.LogUniform, "int_uniform": ir.IntUniform}
        shape = model[space.kind].model_construct(kind=space.kind, low=low, high=high)
    return ir.SpaceSite.model_construct(path=path, space=shape, span=space.span, text=text)


def _option(option: Value, source: str) -> ir.Option:
    data = option.data
    if isinstance(data, bool | int | float):
        return data
    return span_text(source, option.span)


def span_text(source: str, span: Span) -> str:
    """The text ``span`` covers in ``source``."""
    return source[
        offset(source, span.line, span.column) : offset(source, span.end_line, span.end_column)
    ]


def offset(source: str, line: int, column: int) -> int:
    """The index in ``source`` of 1-based ``line`` and ``column``."""
    index = 0
    for _ in range(line - 1):
        found = source.find("\n", index)
        if found < 0:
            return len(source)
        index = found + 1
    return index + column - 1
