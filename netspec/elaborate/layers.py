"""Layer calls of the language: a call's arguments matched to the op's signature
(:mod:`netspec.ops.signature`, one per op in the registry) and built into the IR op."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netspec.diagnostics import did_you_mean
from netspec.elaborate import convert as c
from netspec.elaborate.hints import activation_help, foreign_argument, quoted_word
from netspec.elaborate.values import CallValue, Symbol, Value
from netspec.ir.graph import Span
from netspec.ops import ACTIVATION_KINDS, AFFINE_KINDS, LAYER_NAMES, SIGNATURES
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
        help = (
            [f"name the others: {', '.join(signature.names()[signature.positional :][:3])} = ..."]
            if signature.params[signature.positional :]
            else []
        )
        if isinstance(extra.data, Symbol) and extra.data.name in ACTIVATION_KINDS:
            # dense(10, relu): an activation passed as an argument.
            help = [activation_help(kind, extra.data.name, keyword=kind in AFFINE_KINDS)]
        raise c.Invalid(
            f"{kind} takes at most {signature.positional} positional argument"
            f"{'s' if signature.positional != 1 else ''}, found {len(positional)}",
            extra.span,
            help,
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


# -- the activation argument of the affine layers (dense, conv2d, conv1d, conv2d_transpose) --

# The activations in the language's order, as did-you-mean and the lists offer them.
ACTIVATION_NAMES: tuple[str, ...] = tuple(k for k in LAYER_NAMES if k in ACTIVATION_KINDS)
ACTIVATION_EXAMPLE = "e.g. activation = relu or activation = leaky_relu(0.2)"


def take_activation(kind: str, call: CallValue | None) -> tuple[CallValue | None, list[Value]]:
    """The call without its ``activation = ...`` arguments, and their values, for a layer
    that takes one (an affine layer: dense, conv2d, conv1d, conv2d_transpose); for any
    other layer, as it is."""
    if call is None or kind not in AFFINE_KINDS:
        return call, []
    values = [value for key, value, _ in call.kwargs if key == "activation"]
    if not values:
        return call, []
    rest = tuple(kwarg for kwarg in call.kwargs if kwarg[0] != "activation")
    return CallValue(call.name, call.args, rest), values


def activation(value: Value, defaults: LayerDefaults) -> Any:
    """The IR op an ``activation = ...`` value names: an activation's name (``relu``) or a
    call of one with its arguments (``leaky_relu(0.2)``); raises :class:`c.Invalid`."""
    data = value.data
    if isinstance(data, Symbol | CallValue):
        name = data.name
    else:
        help = quoted_word(data, ACTIVATION_NAMES) if isinstance(data, str) else []
        raise c.Invalid(
            f"activation takes an activation, {ACTIVATION_EXAMPLE}; found {value.describe()}",
            value.span,
            help or [f"activations: {', '.join(ACTIVATION_NAMES)}"],
        )
    if name not in ACTIVATION_NAMES:
        listed = f"activations: {', '.join(ACTIVATION_NAMES)}"
        if name in SIGNATURES:
            raise c.Invalid(
                f"activation takes an activation, and '{name}' is a layer, not an activation",
                value.span,
                [listed, f"chain {name} after the layer instead: ... -> {name}"],
                code="E004",
            )
        raise c.Invalid(
            f"unknown activation '{name}'",
            value.span,
            [*did_you_mean(name, ACTIVATION_NAMES), listed],
            code="E002",
        )
    call = data if isinstance(data, CallValue) else None
    return build(bind(name, call, value.span), defaults)
