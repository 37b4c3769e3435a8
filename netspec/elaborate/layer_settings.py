"""Layer arguments as written, before conversion: ``--set NODE.ARG=VALUE`` overrides of
them, the search spaces they hold (named ``dense_1.units``), and the checks of a space's
every value against the argument it stands for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from netspec.diagnostics import Diagnostics, did_you_mean
from netspec.elaborate import convert as c
from netspec.elaborate.layers import activation, bind, build, take_activation
from netspec.elaborate.overrides import Override, Overrides, one_value, unknown_key
from netspec.elaborate.spaces import SPACE_NOTE, SpaceRegistry, call_concrete, has_space, variants
from netspec.elaborate.values import INIT_KEYS, CallValue, Evaluator, Space, Value
from netspec.ir.graph import Span
from netspec.ops import AFFINE_KINDS, SIGNATURES
from netspec.ops.signature import LayerDefaults


def argument_names(kind: str) -> list[str]:
    """The arguments a layer's call may name (``activation`` too, for an affine layer)."""
    names = SIGNATURES[kind].names()
    return [*names, "activation"] if kind in AFFINE_KINDS else names


class Refused(Exception):
    """A layer's call that cannot be elaborated: an override or a space is reported."""


@dataclass
class ModelSettings:
    """The overrides and spaces of one model's layers."""

    model: str
    overrides: list[tuple[Override, tuple[str, ...]]]
    registry: SpaceRegistry
    evaluator: Evaluator
    # Paths begin with the model's name where the file has several.
    prefix: str

    @property
    def diagnostics(self) -> Diagnostics:
        return self.evaluator.diagnostics

    def layer(
        self,
        kind: str,
        call: CallValue | None,
        node: str,
        span: Span,
        constants: Mapping[str, Value],
        defaults: LayerDefaults,
        *,
        nested: bool,
    ) -> CallValue | None:
        """The call that makes ``node``, its overrides applied and its spaces at their
        representatives; raises :class:`Refused` once a problem is reported.

        ``nested``: the call is inside a block or a repeat, where a space written in
        place would be shared by every use, so only a ``let``'s may stand.
        """
        for override, parts in self.overrides:
            if ".".join(parts[:-1]) == node and len(parts) > 1:
                override.used = True
                override.matched.add(self.model)
                call = self._override(kind, call, parts[-1], override, constants)
        if call is None or not any(has_space(v) for v in _values(call)):
            return call
        self._place(kind, call, node, nested=nested)
        self._check_variants(kind, call, defaults, span)
        return call_concrete(call)

    def _override(
        self,
        kind: str,
        call: CallValue | None,
        name: str,
        override: Override,
        constants: Mapping[str, Value],
    ) -> CallValue | None:
        names = argument_names(kind)
        if name not in names:
            self.diagnostics.error(
                "E026",
                f"{kind} has no argument '{name}'",
                override.part_span(-1),
                help=did_you_mean(name, names) or [f"{kind} takes: {', '.join(names)}"],
            )
            raise Refused
        value = one_value(override, self.evaluator, constants, scheme=name in INIT_KEYS)
        if value is None:
            raise Refused
        signature = SIGNATURES[kind]
        args = list(call.args) if call else []
        kwargs = [kw for kw in (call.kwargs if call else ()) if kw[0] != name]
        index = names.index(name)
        if signature.tensors or index >= signature.positional:
            kwargs.append((name, value, override.part_span(-1)))
        elif signature.variadic and index == 0:
            args = [value]
        elif index < len(args):
            args[index] = value
        elif index == len(args):
            args.append(value)
        else:
            kwargs.append((name, value, override.part_span(-1)))
        return CallValue(kind if call is None else call.name, tuple(args), tuple(kwargs))

    def _place(self, kind: str, call: CallValue, node: str, *, nested: bool) -> None:
        signature = SIGNATURES[kind]
        names = argument_names(kind)
        problems = []
        for index, arg in enumerate(call.args):
            where = names[min(index, len(names) - 1)] if not signature.tensors else str(index)
            path = f"{self.prefix}{node}.{where}"
            problems += self.registry.place(arg, path, direct=not nested)
        for name, arg, _ in call.kwargs:
            problems += self.registry.place(arg, f"{self.prefix}{node}.{name}", direct=not nested)
            if name in INIT_KEYS and isinstance(arg.data, Space) and arg.data.kind == "uniform":
                # `let u = uniform(-0.1, 0.1)` then `init = u`: meant as the init scheme.
                self.diagnostics.error(
                    "E025",
                    f"this {name} is a search space, uniform(...) written as a let's value",
                    arg.span,
                    help=[
                        f"for the init scheme write it in place: {name} = uniform(low, high); "
                        f"to search schemes, {name} = choice(uniform(-0.1, 0.1), he_normal)"
                    ],
                )
                raise Refused
        for problem in problems:
            help = problem.help
            if nested:
                help = (
                    "a space written in a block or a repeat would be shared by each use: "
                    "name it with a let and use the name, e.g. let width = int_uniform(32, 256)",
                )
            self.diagnostics.error(problem.code, problem.message, problem.span, help=help)
        if problems:
            raise Refused

    def _check_variants(
        self, kind: str, call: CallValue, defaults: LayerDefaults, span: Span
    ) -> None:
        """Convert the call at each other end and option of its spaces, as it is at the
        representatives: a value of the space that does not fit is an error there (one
        that the representatives share is reported once, where the call is built)."""
        values = _values(call)
        shared = {(p.message, p.span) for p in _problems(kind, call_concrete(call), defaults, span)}
        failed = False
        for chosen, probe in variants(values):
            count = len(call.args)
            variant = CallValue(
                call.name,
                tuple(chosen[:count]),
                tuple((k, v, s) for (k, _, s), v in zip(call.kwargs, chosen[count:], strict=True)),
            )
            for problem in _problems(kind, variant, defaults, span):
                if (problem.message, problem.span) in shared:
                    continue
                shared.add((problem.message, problem.span))
                failed = True
                self.diagnostics.error(
                    problem.code,
                    problem.message,
                    problem.span,
                    labels=probe.label(problem.span),
                    help=[probe.hint] if probe.hint else problem.help,
                    notes=[SPACE_NOTE],
                )
        if failed:
            raise Refused


def _problems(
    kind: str, call: CallValue | None, defaults: LayerDefaults, span: Span
) -> tuple[c.Invalid, ...]:
    """What building the layer from ``call`` (written at ``span``) finds wrong (nothing
    is reported)."""
    try:
        plain, activations = take_activation(kind, call)
        build(bind(kind, plain, span), defaults)
        for value in activations:
            activation(value, defaults)
    except c.Invalid as error:
        return error.each()
    return ()


def _values(call: CallValue) -> list[Value]:
    return [*call.args, *(v for _, v, _ in call.kwargs)]


class LayerSettings:
    """The overrides and spaces of the layers of every model of a file."""

    def __init__(
        self,
        overrides: Overrides,
        models: Sequence[str],
        registry: SpaceRegistry,
        evaluator: Evaluator,
    ) -> None:
        self.overrides = overrides
        self.models = tuple(models)
        self.registry = registry
        self.evaluator = evaluator

    def of(self, model: str) -> ModelSettings:
        """The settings of ``model``'s layers (overrides of train settings left out)."""
        from netspec.elaborate.train import KEYS  # the train settings' table lives there

        scoped = [(o, p) for o, p in self.overrides.scoped(model, self.models) if p[0] not in KEYS]
        prefix = f"{model}." if len(self.models) > 1 else ""
        return ModelSettings(model, scoped, self.registry, self.evaluator, prefix)


def report_unmatched(
    overrides: Overrides,
    node_names: Mapping[str, Sequence[str]],
    constants: Sequence[str],
    models: Sequence[str],
    diagnostics: Diagnostics,
) -> None:
    """An E026 for each override that found nothing to replace, and for each whose key
    matches nodes or train sections of several models."""
    from netspec.elaborate.train import KEYS

    for override in overrides.items:
        parts = override.parts
        if len(override.matched) > 1:
            first = sorted(override.matched)[0]
            unknown_key(
                override,
                (),
                diagnostics,
                f"'{override.key}' names something in several models "
                f"({', '.join(sorted(override.matched))})",
                [f"put the model's name first: {first}.{override.key}"],
            )
            continue
        if override.used:
            continue
        if parts[0] == "let":
            unknown_key(
                override,
                [f"let.{name}" for name in constants],
                diagnostics,
                f"the spec has no constant '{'.'.join(parts[1:])}'",
                [f"its constants: {', '.join(constants)}"] if constants else [],
            )
            continue
        if parts[0] in models and len(parts) > 1:
            scope, rest = [parts[0]], parts[1:]
        else:
            scope, rest = list(models), parts
        where = f"model '{scope[0]}'" if len(scope) == 1 else "any model"
        if rest[0] in KEYS:
            unknown_key(
                override,
                (),
                diagnostics,
                f"no train section of {where} to set '{rest[0]}' in",
                [f"add one: train {scope[0] if scope else 'NAME'} {{ ... }}"],
            )
            continue
        nodes = [n for m in scope for n in node_names.get(m, ())]
        if len(rest) < 2:
            unknown_key(
                override,
                [*KEYS, *(f"{n}.{rest[0]}" for n in nodes)],
                diagnostics,
                f"'{override.key}' is not a train setting, and a layer's argument is NODE.ARG",
                [f"train settings: {', '.join(KEYS)}"],
            )
            continue
        node = ".".join(rest[:-1])
        diagnostics.error(
            "E026",
            f"no node '{node}' in {where}",
            override.key_span,
            help=did_you_mean(node, nodes)
            or [
                f"its nodes: {', '.join(nodes[:8])}{', ...' if len(nodes) > 8 else ''}"
                if nodes
                else "`netspec summary SPEC` lists the nodes, named as a key names them"
            ],
        )
