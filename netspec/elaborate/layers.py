"""Layer calls of the language: a call's arguments matched to the op's signature
(:mod:`netspec.ops.signature`, one per op in the registry) and built into the IR op."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netspec.diagnostics import did_you_mean
from netspec.elaborate import convert as c
from netspec.elaborate.hints import foreign_argument
from netspec.elaborate.values import CallValue, Value
from netspec.ir.graph import Span
from netspec.ops import SIGNATURES
from netspec.ops.signature import REQUIRED, Given, LayerDefaults


@dataclass(frozen=True)
class Bound:
    """A layer call with its arguments converted; ``tensors`` are a merge's inputs."""

    kind: str
    args: dict[str, Any]
    tensors: tuple[Value, ...]


def bind(kind: str, call: CallValue | None, span: Span) -> Bound:
    """Match a call's arguments to the layer's signature; raises :class:`c.Invalid`."""
    signature = SIGNATURES[kind]
    positional = call.args if call else ()
    keywords = call.kwargs if call else ()
    tensors: tuple[Value, ...] = ()
    if signature.tensors:
        tensors, positional = positional, ()
    if signature.variadic and len(positional) > 1:
        # reshape(1, 28, 28) reads better than reshape([1, 28, 28]); both are accepted.
        positional = (Value(tuple(positional), positional[0].span),)
    if len(positional) > signature.positional:
        extra = positional[signature.positional]
        raise c.Invalid(
            f"{kind} takes at most {signature.positional} positional argument"
            f"{'s' if signature.positional != 1 else ''}, found {len(positional)}",
            extra.span,
            [f"name the others: {', '.join(signature.names()[signature.positional :][:3])} = ..."]
            if signature.params[signature.positional :]
            else [],
            code="E004",
        )
    given: Given = {}
    for param, value in zip(signature.params, positional, strict=False):
        given[param.name] = (value, value.span)
    names = signature.names()
    # Every unknown or repeated argument of the call is reported, not only the first.
    problems: list[c.Invalid] = []
    for key, value, key_span in keywords:
        if key not in names:
            help = (
                foreign_argument(kind, key, names, signature.example)
                or did_you_mean(key, names)
                or (
                    [f"{kind} takes: {', '.join(names)}"]
                    if names
                    else [f"{kind} takes no arguments"]
                )
            )
            problems.append(
                c.Invalid(f"{kind} has no argument '{key}'", key_span, help, code="E004")
            )
        elif key in given:
            problems.append(c.Invalid(f"argument '{key}' is given twice", key_span, code="E003"))
        else:
            given[key] = (value, key_span)
    if problems:
        raise c.Invalid.all_of(problems)
    args: dict[str, Any] = {}
    for param in signature.params:
        if param.name in given:
            args[param.name] = param.convert(given[param.name][0])
        elif param.default is REQUIRED:
            raise c.Invalid(
                f"{kind} needs the argument '{param.name}'",
                span,
                [f"for example: {signature.example}"] if signature.example else [],
                code="E005",
            )
        else:
            args[param.name] = param.default
    if signature.validate is not None:
        signature.validate(args, given, span)
    return Bound(kind, args, tensors)


def build(bound: Bound, defaults: LayerDefaults) -> Any:
    return SIGNATURES[bound.kind].build(bound.args, defaults)
