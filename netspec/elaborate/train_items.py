"""Train settings as written, before conversion: ``--set`` overrides of them, and the
search spaces they hold (named ``optimizer``, ``optimizer.lr``, ``epochs``, ...)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

from netspec.diagnostics import Diagnostics, did_you_mean
from netspec.elaborate import convert as c
from netspec.elaborate.overrides import FILE as OVERRIDES_FILE
from netspec.elaborate.overrides import Override, Overrides, evaluate, unknown_key
from netspec.elaborate.spaces import Probe, SpaceRegistry, concrete, variants
from netspec.elaborate.values import CallValue, EvalError, Evaluator, Symbol, Value
from netspec.ir.graph import Span

KwArgs = list[tuple[str, Value, Span]]
# The names of the positional arguments of a setting's call (None: not one call).
ArgumentNames = Callable[[str, Value], list[str] | None]


class Item(NamedTuple):
    """One setting as written (or as an override gives it), its values evaluated."""

    key_span: Span
    item_span: Span
    args: list[Value]
    kwargs: KwArgs


def item_variants(item: Item) -> Iterator[tuple[list[Value], KwArgs, Probe]]:
    """The setting's values at each other end and option of its spaces (see
    :func:`netspec.elaborate.spaces.variants`), with the help line of each."""
    values = [*item.args, *(v for _, v, _ in item.kwargs)]
    count = len(item.args)
    for chosen, probe in variants(values):
        kwargs = [(k, v, s) for (k, _, s), v in zip(item.kwargs, chosen[count:], strict=True)]
        yield list(chosen[:count]), kwargs, probe


def item_concrete(item: Item) -> tuple[list[Value], KwArgs]:
    """The setting's values with each space at its representative."""
    return [concrete(v) for v in item.args], [(k, concrete(v), s) for k, v, s in item.kwargs]


# The penalties of ``regularize``, by which ``regularize.l2`` names one.
PENALTIES = ("l2", "l1", "max_norm")


def _called(value: Value, name: str) -> bool:
    return isinstance(value.data, CallValue) and value.data.name == name


class Settings:
    """Overrides and search spaces of the settings of one train section."""

    def __init__(
        self, diagnostics: Diagnostics, argument_names: ArgumentNames, several: bool
    ) -> None:
        self.diagnostics = diagnostics
        self.argument_names = argument_names
        # Paths begin with the model's name where the file has several models.
        self.several = several

    def override(
        self,
        model: str,
        entries: dict[str, Item | None],
        seen: dict[str, Span],
        constants: Mapping[str, Value],
        overrides: Overrides,
        models: Sequence[str],
    ) -> None:
        """Apply the overrides of ``model``'s train settings to ``entries``."""
        from netspec.elaborate.train import KEYS  # the table of settings lives there

        evaluator = Evaluator(OVERRIDES_FILE, self.diagnostics)
        for override, parts in overrides.scoped(model, models):
            if parts[0] not in KEYS:
                continue  # a layer's argument
            override.used = True
            override.matched.add(model)
            key = parts[0]
            if len(parts) > 2:
                unknown_key(
                    override,
                    (),
                    self.diagnostics,
                    f"'{override.key}' goes deeper than an argument of a train setting",
                    [f"set the argument whole: --set {'.'.join(override.parts[:-1])}=..."],
                )
                continue
            evaluated = evaluate(override, evaluator, constants)
            if evaluated is None:
                entries[key] = None
                continue
            args, kwargs = evaluated
            if len(parts) == 1:
                entries[key] = Item(override.part_span(-1), override.value_span, args, kwargs)
                seen.setdefault(key, override.key_span)
                continue
            if key == "regularize" and key not in seen:
                # A penalty is added to a section that has none.
                entries[key] = Item(override.key_span, override.value_span, [], [])
                seen[key] = override.key_span
            if key not in seen:
                unknown_key(
                    override,
                    (),
                    self.diagnostics,
                    f"the train section of '{model}' sets no {key}, so '{override.key}' has "
                    "nothing to change",
                    [f"set the whole setting: --set {key}=..."],
                )
                continue
            entry = entries.get(key)
            if entry is None:
                continue  # its own value is reported already
            if kwargs or len(args) != 1:
                self.diagnostics.error(
                    "E026", f"'{override.key}' takes one value", override.value_span
                )
                continue
            entries[key] = self._set_argument(key, entry, parts[1], args[0], override)

    def _set_argument(
        self, key: str, entry: Item, name: str, value: Value, override: Override
    ) -> Item | None:
        """``entry`` with its argument ``name`` (named or positional) set to ``value``."""
        span = override.part_span(-1)
        if key == "regularize":
            return self._set_penalty(entry, name, value, override)
        if key == "early_stopping":
            kept = [kw for kw in entry.kwargs if kw[0] != name]
            return entry._replace(kwargs=[*kept, (name, value, span)])
        written = entry.args[0] if len(entry.args) == 1 and not entry.kwargs else None
        positional = self.argument_names(key, written) if written is not None else None
        if written is None or positional is None:
            unknown_key(
                override,
                (),
                self.diagnostics,
                f"'{key}' is not one call, so '{override.key}' has no argument to change",
                [f"set the whole setting: --set {key}=..."],
            )
            return None
        data = written.data
        if not isinstance(data, Symbol | CallValue):
            return entry  # not a call: reported as the setting's own error
        call = data if isinstance(data, CallValue) else CallValue(data.name, (), ())
        args = list(call.args)
        kwargs = [kw for kw in call.kwargs if kw[0] != name]
        if name in positional and positional.index(name) < len(args):
            args[positional.index(name)] = value
        else:
            kwargs.append((name, value, span))
        changed = Value(CallValue(call.name, tuple(args), tuple(kwargs)), written.span)
        return entry._replace(args=[changed])

    def _set_penalty(self, entry: Item, name: str, value: Value, override: Override) -> Item | None:
        """``regularize`` with penalty ``name`` (l2, l1, max_norm) set to ``value``, added
        when the section does not write it."""
        if name not in PENALTIES:
            self.diagnostics.error(
                "E026",
                f"regularize has no penalty '{name}'",
                override.part_span(-1),
                help=did_you_mean(name, PENALTIES) or [f"penalties: {', '.join(PENALTIES)}"],
            )
            return None
        penalty = Value(CallValue(name, (value,), ()), override.value_span)
        args = [
            arg
            for arg in entry.args
            if not (isinstance(arg.data, Symbol) and arg.data.name == "none")
        ]
        named = [i for i, arg in enumerate(args) if _called(arg, name)]
        if named:
            args[named[0]] = penalty
        else:
            args.append(penalty)
        return entry._replace(args=args)

    def place(self, registry: SpaceRegistry, model: str, key: str, entry: Item) -> None:
        """Name the search spaces of a setting by their paths (``optimizer``,
        ``optimizer.lr``); raises :class:`c.Invalid` for one that cannot stand where it
        is written."""
        prefix = f"{model}.{key}" if self.several else key
        problems: list[EvalError] = []
        value = entry.args[0] if len(entry.args) == 1 and not entry.kwargs else None
        names = self.argument_names(key, value) if value is not None else None
        if key == "regularize" and any(isinstance(a.data, CallValue) for a in entry.args):
            # Each penalty's strength by the penalty's name: regularize.l2.
            for arg in entry.args:
                if isinstance(arg.data, CallValue):
                    for inner in arg.data.args:
                        path = f"{prefix}.{arg.data.name}"
                        problems += registry.place(inner, path, direct=len(arg.data.args) == 1)
                else:
                    problems += registry.place(arg, prefix, direct=False)
        elif value is not None and isinstance(value.data, CallValue) and names is not None:
            for index, arg in enumerate(value.data.args):
                where = names[index] if index < len(names) else str(index + 1)
                problems += registry.place(arg, f"{prefix}.{where}", direct=True)
            for name, arg, _ in value.data.kwargs:
                problems += registry.place(arg, f"{prefix}.{name}", direct=True)
        elif value is not None:
            problems += registry.place(value, prefix, direct=True)
        else:
            for arg in entry.args:
                problems += registry.place(arg, prefix, direct=False)
            for name, arg, _ in entry.kwargs:
                problems += registry.place(arg, f"{prefix}.{name}", direct=True)
        if problems:
            raise c.Invalid.all_of([c.Invalid(p.message, p.span, p.help, p.code) for p in problems])
