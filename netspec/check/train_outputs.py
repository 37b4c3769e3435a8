"""The train section's metrics, ``target input``, per-step targets and the input's
dtype, checked against the loss and the model (part of
:class:`netspec.check.train.TrainChecker`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from netspec.diagnostics import Label
from netspec.ir.graph import INDEX_DTYPES, CheckedModel, Input
from netspec.ir.train import TopKAccuracy
from netspec.ops.shapes import fmt

if TYPE_CHECKING:
    from netspec.check.train import TrainChecker

CLASSIFICATION = frozenset({"softmax_cross_entropy", "binary_cross_entropy"})


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def check_metrics(checker: TrainChecker) -> None:
    """mae, perplexity and top_k_accuracy against the loss and the output; a warning when no split
    would measure them."""
    loss = checker.spec.loss.kind
    if "accuracy" in checker.spec.metrics and loss not in CLASSIFICATION:
        checker.warn(
            "metrics",
            f"accuracy is not measured with the regression loss {loss}",
            labels=checker.label("loss", "a regression loss"),
            help=["drop accuracy from metrics"],
        )
    extra = [m for m in checker.spec.metrics if m not in ("loss", "accuracy")]
    for metric in extra:
        if isinstance(metric, TopKAccuracy):
            _top_k(checker, metric)
        elif metric == "perplexity":
            if loss != "softmax_cross_entropy":
                checker.error(
                    "metrics",
                    f"perplexity is exp of the mean cross-entropy per label and needs "
                    f"softmax_cross_entropy, but the loss is {loss}",
                    labels=checker.label("loss", f"{loss}"),
                    help=["drop perplexity, or use softmax_cross_entropy"],
                )
        elif loss in CLASSIFICATION:
            checker.error(
                "metrics",
                f"mae measures the outputs of a regression loss, but {loss} outputs logits",
                labels=checker.label("loss", "a classification loss"),
                help=["drop mae, or use a regression loss: mse, half_sse or l1"],
            )
    facts = checker.facts
    no_split = facts is not None and facts.test == 0 and checker.spec.data.validation == 0
    if extra and no_split:
        checker.warn(
            "metrics",
            "these metrics are measured on the validation and test splits, but the data "
            "has neither",
            labels=checker.label("data", "no validation or test split"),
            help=[f"hold out a split: data {checker.source}(..., validation = 0.1)"],
        )


def _top_k(checker: TrainChecker, metric: TopKAccuracy) -> None:
    loss = checker.spec.loss.kind
    if loss != "softmax_cross_entropy":
        checker.error(
            "metrics",
            f"top_k_accuracy({metric.k}) needs softmax_cross_entropy (one score per "
            f"class), but the loss is {loss}",
            labels=checker.label("loss", f"{loss}"),
            help=["drop top_k_accuracy, or use softmax_cross_entropy"],
        )
        return
    output = checker.model.output_type.shape if checker.model is not None else None
    if output is not None and len(output) == 1 and metric.k > output[0]:
        checker.error(
            "metrics",
            f"top_k_accuracy({metric.k}) needs at least {metric.k} classes, but the model "
            f"has {output[0]} outputs",
            labels=checker.output_label(checker.model) if checker.model is not None else [],
            help=[f"use k <= {output[0]}"],
        )


def check_input_target(checker: TrainChecker, model: CheckedModel | None) -> None:
    """``target input``: a regression loss, no one_hot, an output of the input's shape
    (or a vector of as many values)."""
    loss = checker.spec.loss.kind
    if loss in CLASSIFICATION:
        checker.error(
            "target",
            f"target input trains the model to reproduce its input, which needs a "
            f"regression loss, but the loss is {loss}",
            labels=checker.label("loss", "a classification loss"),
            help=["use mse, half_sse or l1"],
        )
    if checker.spec.data.one_hot:
        checker.error(
            "data",
            "one_hot = true needs class labels, but with target input the targets are the inputs",
            labels=checker.label("target", "the inputs are the targets"),
            help=["remove one_hot = true"],
        )
    if model is None or len(model.inputs) > 1:
        return  # several inputs: reported by check_several_inputs
    sample, output = model.input.shape, model.output_type.shape
    size = math.prod(sample)
    if output == sample or output == (size,):
        return
    fix = f"dense({size})" if len(sample) == 1 else f"dense({size}) -> reshape({_shape(sample)})"
    labels = checker.output_label(model)
    if checker.input_span is not None:
        message = f"the input is {_shape(sample)}"
        labels.append(Label.model_construct(span=checker.input_span, message=message))
    checker.error(
        "target",
        f"target input makes each sample its own target, {fmt(sample)}, but the "
        f"model's output is {fmt(output)}",
        labels=labels,
        help=[f"end the model with an output of the input's shape, e.g. {fix}"],
    )


def check_step_targets(
    checker: TrainChecker, steps: tuple[int, ...], model: CheckedModel, labels: list[Label]
) -> None:
    """One class label per step (text): softmax_cross_entropy on an output [steps,
    classes]; the class count is known once the file is read."""
    loss = checker.spec.loss.kind
    if loss != "softmax_cross_entropy":
        checker.error(
            "loss",
            f"data {checker.source} makes one class label per step, targets {fmt(steps)}, "
            f"which needs softmax_cross_entropy, but the loss is {loss}",
            labels=checker.label("data", "a label per step"),
            help=["use loss softmax_cross_entropy with an output [steps, classes]"],
        )
        return
    if checker.spec.data.one_hot:
        checker.error(
            "data",
            f"one_hot = true makes one-hot rows of class labels, but data {checker.source} "
            "makes a label per step, which softmax_cross_entropy takes as it is",
            help=["remove one_hot = true"],
        )
    output = model.output_type.shape
    if output[:-1] != steps or len(output) < 2:
        checker.error(
            "data",
            f"data {checker.source} makes one class label per step, targets {fmt(steps)}, "
            f"so the model's output must be [{', '.join(map(str, steps))}, classes]; found "
            f"{fmt(output)}",
            labels=labels,
            help=[
                f"end the model with scores per step and class, e.g. embedding(V, dim) -> "
                f"... -> an output [{', '.join(map(str, steps))}, V] with V the vocabulary"
            ],
        )


def check_input_dtype(
    checker: TrainChecker, indices: bool, model: CheckedModel, spec: Input | None = None
) -> None:
    """A source of indices needs an integer input, and an integer input a source of
    indices (the built-in sources but text make floats). ``spec`` is the input the data
    feeds, by name for a model of several inputs (the model's only input by default)."""
    spec = model.input if spec is None else spec
    declared = spec.dtype
    if indices == (declared in INDEX_DTYPES):
        return
    name, shape = spec.name, _shape(spec.shape)
    labels = []
    span = checker.input_spans.get(name)
    if span is not None:
        message = f"the model's input is {declared} {shape}"
        labels = [Label.model_construct(span=span, message=message)]
    several = len(model.inputs) > 1
    if indices:
        checker.error(
            "data",
            f"data {checker.source} makes integer indices, but the model's input is "
            f"{declared} {shape}",
            labels=labels,
            help=[f"declare the input as indices, {name}: int64{shape}, and embed them"],
        )
    else:
        which = f"input '{name}'" if several else "input"
        checker.error(
            "data",
            f"data {checker.source} makes floating-point samples, but the model's {which} is "
            f"{declared} {shape}, which takes integer indices",
            labels=labels,
            help=[
                f"declare the input as floating point, {name}: {shape}"
                + (", or read it from an npz array of integers" if several else "")
            ],
        )
