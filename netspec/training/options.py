"""Command-line overrides of a train section, validated like the spec itself."""

from __future__ import annotations

from typing import Any

from netspec._validate import check_choice, check_int, check_seed
from netspec.diagnostics import Diagnostic, Diagnostics, render_all
from netspec.elaborate import convert as c
from netspec.elaborate.train import _data
from netspec.elaborate.values import Evaluator
from netspec.errors import NetspecError
from netspec.ir import Span
from netspec.ir.train import TrainSpec
from netspec.precision import PRECISIONS
from netspec.syntax.parser import parse


def parse_data_source(text: str, option: str = "--data") -> Any:
    """``--data "mnist(flatten = true)"`` as a DataSpec, with the spec's own errors.

    ``option`` names where the text came from (``--data``, or ``data=`` in the
    library); errors show only that text, underlined where it is wrong.
    """
    prefix = "let data = "
    source = f"{prefix}{text}\n"
    diagnostics = Diagnostics()
    label = option.rstrip("=")
    tree = parse(source, label, diagnostics)
    if tree is not None:
        evaluator = Evaluator(label, diagnostics)
        value = evaluator.evaluate(tree.children[0].children[1], {})
        if value is not None:
            try:
                return _data(value)
            except c.Invalid as error:
                diagnostics.error(error.code, error.message, error.span, help=error.help)
    # The text was parsed behind a prefix of ours: move the columns back onto it.
    shown = [_unprefixed(item, len(prefix)) for item in diagnostics.items]
    raise NetspecError(
        f"{option}{'' if option.endswith('=') else ' '}{text!r} is not a data source:\n"
        + render_all(shown, {label: text}),
        tuple(shown),
    )


def _unprefixed(item: Diagnostic, width: int) -> Diagnostic:
    def shift(span: Span | None) -> Span | None:
        if span is None or span.line != 1:
            return span
        start = max(1, span.column - width)
        end = span.end_column - width if span.end_line == 1 else span.end_column
        return span.model_copy(update={"column": start, "end_column": max(start + 1, end)})

    labels = tuple(label.model_copy(update={"span": shift(label.span)}) for label in item.labels)
    return item.model_copy(update={"span": shift(item.span), "labels": labels})


def apply_overrides(
    spec: TrainSpec,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
    data: Any = None,
    precision: str | None = None,
) -> TrainSpec:
    """The train section with command-line values in place of the spec's."""
    update: dict[str, Any] = {}
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value is not None:
            update[name] = check_int(value, f"--{name.replace('_', '-')}")
    if seed is not None:
        update["seed"] = check_seed(seed, "--seed")
    if lr is not None:
        if not lr > 0:
            raise NetspecError(f"--lr must be > 0, found {lr}")
        update["optimizer"] = spec.optimizer.model_copy(update={"lr": lr})
    if precision is not None:
        update["precision"] = check_choice(precision, "--precision", PRECISIONS)
    if data is not None:
        update["data"] = parse_data_source(data) if isinstance(data, str) else data
    return spec.model_copy(update=update)
