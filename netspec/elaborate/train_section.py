"""Elaborate a train section into its settings: each line ``key args`` evaluated, the
``--set`` overrides of the section applied, its search spaces named and each of their
values checked, then converted (:mod:`netspec.elaborate.train`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lark import Tree

from netspec.diagnostics import Diagnostics, Label, did_you_mean
from netspec.elaborate import convert as c
from netspec.elaborate.overrides import Overrides
from netspec.elaborate.spaces import SPACE_NOTE, SpaceRegistry
from netspec.elaborate.train import (
    _POSITIONAL,
    DATA_SOURCES,
    KEYS,
    LOSSES,
    ONE_LOSS,
    OPTIMIZERS,
    SCHEDULES,
    TrainSection,
    _early_stopping,
    _metrics,
    convert_setting,
    typed_call,
)
from netspec.elaborate.train_items import Item, Settings, item_concrete, item_variants
from netspec.elaborate.values import CallValue, Evaluator, Symbol, Value
from netspec.ir import train as t
from netspec.ir.graph import Span
from netspec.ir.init import Regularize

# The settings whose value is one call of a class from a table, so that ``KEY.ARG``
# reaches one argument of it (``optimizer.lr``, ``data.limit``).
_CALL_TABLES: dict[str, dict[str, Any]] = {
    "data": DATA_SOURCES,
    "loss": LOSSES,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
}


def argument_names(key: str, value: Value) -> list[str] | None:
    """The names of the positional arguments of a setting's call, in order; None for a
    setting that is not one call from a table."""
    if key == "clip":  # norm(x) or value(x): the threshold
        return ["threshold"] if isinstance(value.data, CallValue) else []
    if key not in _CALL_TABLES:
        return None
    name = value.data.name if isinstance(value.data, Symbol | CallValue) else ""
    entry = _CALL_TABLES[key].get(name)
    cls = entry[0] if isinstance(entry, tuple) else entry
    return list(_POSITIONAL.get(cls, ())) if cls is not None else []


class TrainElaborator:
    def __init__(
        self,
        evaluator: Evaluator,
        diagnostics: Diagnostics,
        overrides: Overrides | None = None,
        models: Sequence[str] = (),
        registry: SpaceRegistry | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.diagnostics = diagnostics
        self.overrides = overrides or Overrides()
        self.models = tuple(models)
        self.registry = registry
        # Paths begin with the model's name where the file has several.
        self.several = len(self.models) > 1

    def elaborate(self, tree: Tree, constants: dict[str, Value]) -> TrainSection:
        """The model name, its span, the TrainSpec fields found, and the penalties."""
        name_token, *items = tree.children
        found: dict[str, Any] = {}
        seen: dict[str, Span] = {}
        entries: dict[str, Item | None] = {}
        item_spans: dict[str, Span] = {}
        regularize: Regularize | None = None
        for item in items:
            key_token, *arg_trees = item.children
            key = str(key_token)
            key_span = self.evaluator.span(key_token)
            if key not in KEYS:
                self.diagnostics.error(
                    "E030",
                    f"unknown train setting '{key}'",
                    key_span,
                    help=did_you_mean(key, KEYS) or [f"settings: {', '.join(KEYS)}"],
                )
                continue
            if key in seen:
                self.diagnostics.error(
                    "E003",
                    f"'{key}' is set twice",
                    key_span,
                    labels=[Label.model_construct(span=seen[key], message="first set here")],
                    help=[ONE_LOSS] if key == "loss" else [],
                )
                continue
            seen[key] = key_span
            item_spans[key] = self.evaluator.span(item)
            entries[key] = self._evaluate(key_span, item_spans[key], arg_trees, constants)
        model = str(name_token)
        settings = Settings(self.diagnostics, argument_names, self.several)
        if self.overrides:
            settings.override(model, entries, seen, constants, self.overrides, self.models)
            item_spans.update({k: e.item_span for k, e in entries.items() if e is not None})
        for key, entry in entries.items():
            if entry is None:
                continue
            try:
                if self.registry is not None:
                    settings.place(self.registry, model, key, entry)
            except c.Invalid as error:
                for problem in error.each():
                    self.diagnostics.error(
                        problem.code, problem.message, problem.span, help=problem.help
                    )
                continue
            try:
                args, kwargs = item_concrete(entry)
                result = self._setting(key, args, kwargs, entry.key_span)
                problems: tuple[c.Invalid, ...] = ()
            except c.Invalid as error:
                problems = error.each()
            if not self._variants_fit(key, entry, problems) or problems:
                for problem in problems:
                    self.diagnostics.error(
                        problem.code, problem.message, problem.span, help=problem.help_in(constants)
                    )
                continue
            if key == "regularize":
                regularize = result
            else:
                found[key] = result
        return TrainSection(
            model,
            self.evaluator.span(name_token),
            found,
            regularize,
            frozenset(seen),
            item_spans,
        )

    def _variants_fit(self, key: str, entry: Item, shared: Sequence[c.Invalid]) -> bool:
        """Convert the setting at each other end and option of its search spaces; report
        what does not fit (and is not wrong at the representatives too)."""
        seen = {(p.message, p.span) for p in shared}
        fits = True
        for args, kwargs, probe in item_variants(entry):
            try:
                self._setting(key, args, kwargs, entry.key_span)
            except c.Invalid as error:
                for problem in error.each():
                    if (problem.message, problem.span) in seen:
                        continue
                    seen.add((problem.message, problem.span))
                    fits = False
                    self.diagnostics.error(
                        problem.code,
                        problem.message,
                        problem.span,
                        labels=probe.label(problem.span),
                        help=[probe.hint] if probe.hint else problem.help,
                        notes=[SPACE_NOTE],
                    )
        return fits

    def _evaluate(
        self, key_span: Span, item_span: Span, arg_trees: Sequence[Any], constants: dict[str, Value]
    ) -> Item | None:
        args: list[Value] = []
        kwargs: list[tuple[str, Value, Span]] = []
        failed = False
        for arg in arg_trees:
            if isinstance(arg, Tree) and arg.data == "kwarg":
                k, expr = arg.children
                v = self.evaluator.evaluate(expr, constants)
                if v is None:
                    failed = True
                    continue
                kwargs.append((str(k), v, self.evaluator.span(k)))
            else:
                v = self.evaluator.evaluate(arg, constants)
                if v is None:
                    failed = True
                    continue
                args.append(v)
        return None if failed else Item(key_span, item_span, args, kwargs)

    def _setting(
        self,
        key: str,
        args: Sequence[Value],
        kwargs: Sequence[tuple[str, Value, Span]],
        key_span: Span,
    ) -> Any:
        """The IR value of setting ``key``; raises :class:`c.Invalid`."""
        if key == "early_stopping":
            return _early_stopping(args, kwargs, key_span)
        if key == "ema":  # `ema 0.999` or `ema decay = 0.999`
            call = Value(CallValue("ema", tuple(args), tuple(kwargs)), key_span)
            return typed_call(t.EmaSpec, "ema", call)
        if kwargs:
            raise c.Invalid(f"'{key}' takes a value, not 'name = value'", kwargs[0][2], code="E004")
        if key == "metrics":
            return _metrics(args)
        if key == "regularize":
            return c.regularize(Value(tuple(args), args[0].span) if len(args) > 1 else args[0])
        if len(args) != 1:
            raise c.Invalid(
                f"'{key}' takes one value, found {len(args)}",
                args[1].span,
                [ONE_LOSS] if key == "loss" else [],
                code="E004",
            )
        return convert_setting(key, args[0])
