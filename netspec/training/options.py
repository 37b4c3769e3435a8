"""Command-line overrides of a train section, validated like the spec itself."""

from __future__ import annotations

from typing import Any

from netspec.diagnostics import Diagnostics, render_all
from netspec.elaborate import convert as c
from netspec.elaborate.train import _data
from netspec.elaborate.values import Evaluator
from netspec.errors import NetspecError
from netspec.ir.train import TrainSpec
from netspec.syntax.parser import parse


def parse_data_source(text: str) -> Any:
    """``--data "mnist(flatten = true)"`` as a DataSpec, with the spec's own errors."""
    source = f"let data = {text}\n"
    diagnostics = Diagnostics()
    tree = parse(source, "--data", diagnostics)
    if tree is not None:
        evaluator = Evaluator("--data", diagnostics)
        value = evaluator.evaluate(tree.children[0].children[1], {})
        if value is not None:
            try:
                return _data(value)
            except c.Invalid as error:
                diagnostics.error(error.code, error.message, error.span, help=error.help)
    raise NetspecError(
        f"--data {text!r} is not a data source:\n"
        + render_all(diagnostics.items, {"--data": source}),
        tuple(diagnostics.items),
    )


def apply_overrides(
    spec: TrainSpec,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int | None = None,
    data: Any = None,
) -> TrainSpec:
    """The train section with command-line values in place of the spec's."""
    update: dict[str, Any] = {}
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed)):
        if value is not None:
            if value < (0 if name == "seed" else 1):
                raise NetspecError(f"--{name.replace('_', '-')} must be positive, found {value}")
            update[name] = value
    if lr is not None:
        if not lr > 0:
            raise NetspecError(f"--lr must be > 0, found {lr}")
        update["optimizer"] = spec.optimizer.model_copy(update={"lr": lr})
    if data is not None:
        update["data"] = parse_data_source(data) if isinstance(data, str) else data
    return spec.model_copy(update=update)
