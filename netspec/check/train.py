"""Check a train section against its model and its data source, before anything runs.

`netspec train` loads the data and then refuses, at once, a section that cannot work
(early stopping on a split that does not exist, a loss that does not fit the model's
output, inputs of the wrong shape, ...). Everything of that kind that the spec alone
decides is reported here, by `netspec check`, at the train-section item at fault
(E031). Settings that are legal but cannot do what they say get a warning (W006).

The training loop keeps its own checks: ``--data`` and other overrides can change the
data at run time, and csv / npz files are only known once read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from netspec.check.train_augment import check_augment
from netspec.check.train_inputs import check_csv_groups, check_several_inputs
from netspec.check.train_outputs import (
    check_input_dtype,
    check_input_target,
    check_metrics,
    check_step_targets,
)
from netspec.check.train_schedule import check_optimizer_settings, check_plateau, check_schedule
from netspec.diagnostics import Diagnostics, Label
from netspec.ir.graph import CheckedModel, Span
from netspec.ir.train import (
    AddingData,
    CopyData,
    DigitsData,
    FashionMnistData,
    LinearData,
    MnistData,
    PolynomialData,
    SineData,
    SpiralsData,
    TextData,
    TrainSpec,
    XorData,
)
from netspec.ops.shapes import fmt

CLASSIFICATION = frozenset({"softmax_cross_entropy", "binary_cross_entropy"})
DIGITS_SAMPLES = 1797  # scikit-learn's bundled digits


@dataclass(frozen=True)
class SourceFacts:
    """What a built-in data source makes, known without loading it."""

    # "labels" (class indices), "targets" (real numbers) or "soft" (one-hot floats)
    kind: str
    sample_shape: tuple[int, ...]
    classes: int | None = None
    # Samples before the test split, where fixed by the spec (synthetic sources).
    samples: int | None = None
    # The test fraction, for sources that split one (None: a fixed test set).
    test: float | None = None
    target_shape: tuple[int, ...] = ()


def source_facts(data: object) -> SourceFacts | None:
    """The facts of a built-in source; None for csv and npz (known only once read)."""
    if isinstance(data, MnistData | FashionMnistData):
        return SourceFacts("labels", (1, 28, 28), classes=10)
    if isinstance(data, DigitsData):
        return SourceFacts("labels", (1, 8, 8), classes=10, samples=DIGITS_SAMPLES, test=data.test)
    if isinstance(data, LinearData | PolynomialData):
        return SourceFacts(
            "targets", (data.features,), samples=data.samples, test=data.test, target_shape=(1,)
        )
    if isinstance(data, XorData):
        return SourceFacts("labels", (2,), classes=2, samples=data.samples, test=data.test)
    if isinstance(data, SpiralsData):
        return SourceFacts(
            "labels", (2,), classes=data.classes, samples=data.samples, test=data.test
        )
    if isinstance(data, SineData):
        return SourceFacts(
            "targets", (data.length, 1), samples=data.samples, test=data.test, target_shape=(1,)
        )
    if isinstance(data, AddingData):
        return SourceFacts(
            "targets", (data.length, 2), samples=data.samples, test=data.test, target_shape=(1,)
        )
    if isinstance(data, TextData):
        # One character index per step; the vocabulary is known once the file is read.
        window = (data.window,)
        return SourceFacts("steps", window, test=data.test, target_shape=window)
    if isinstance(data, CopyData):
        steps = data.length + 2 * data.remember
        return SourceFacts(
            "soft",
            (steps, data.symbols + 2),
            samples=data.samples,
            test=data.test,
            target_shape=(data.remember, data.symbols),
        )
    return None


def holdout_count(fraction: float, n: int) -> int:
    """How many of ``n`` samples a fraction holds out: round half up, as the data loader
    does (netspec.data._split.holdout_count; a test holds the two in step)."""
    return math.floor(round(fraction * n, 6) + 0.5)


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


class TrainChecker:
    """Reports every static problem of one train section (see the module docstring)."""

    def __init__(
        self,
        spec: TrainSpec,
        model: CheckedModel | None,
        items: dict[str, Span],
        section: Span,
        diagnostics: Diagnostics,
        *,
        output_span: Span | None = None,
        input_spans: dict[str, Span] | None = None,
    ) -> None:
        self.spec = spec
        self.model = model
        self.items = items
        self.section = section
        self.diagnostics = diagnostics
        self.output_span = output_span
        self.input_spans = input_spans or {}
        # The one input's span, for the rules that speak of a single-input model.
        spans = list(self.input_spans.values())
        self.input_span = spans[0] if len(spans) == 1 else None
        self.source = spec.data.source
        self.facts = source_facts(spec.data)

    def check(self) -> None:
        self._monitor()
        check_metrics(self)
        if self.facts is not None:
            self._splits(self.facts)
        if self.model is not None and len(self.model.inputs) > 1:
            check_several_inputs(self, self.model)
        elif self.model is not None:
            check_csv_groups(self, self.model)
        if self.spec.target == "input":
            check_input_target(self, self.model)
        elif self.model is not None:
            self._loss_and_output(self.model)
        if self.model is not None and self.facts is not None and len(self.model.inputs) == 1:
            self._inputs(self.facts, self.model)
        single = self.model is not None and len(self.model.inputs) == 1
        if single and (self.facts is not None or self.source == "csv"):
            # Every source but text and npz makes floats (an npz file may hold indices).
            indices = self.facts is not None and self.facts.kind == "steps"
            check_input_dtype(self, indices, self.model)
        elif self.model is not None and self.source == "csv":
            # csv column groups feed each input by name, with floats: each integer input
            # is refused on its own (an npz file may hold indices, known once read).
            for spec in self.model.inputs:
                check_input_dtype(self, False, self.model, spec)
        if self.model is not None:
            check_augment(self, self.model)
        check_schedule(self)
        check_plateau(self)
        check_optimizer_settings(self)

    # -- reporting ---------------------------------------------------------------------

    def _at(self, key: str) -> Span:
        """Where a setting is written; the section's name when it is left at its default."""
        return self.items.get(key, self.section)

    def label(self, key: str, message: str) -> list[Label]:
        span = self.items.get(key)
        return [Label.model_construct(span=span, message=message)] if span else []

    def output_label(self, model: CheckedModel) -> list[Label]:
        if self.output_span is None:
            return []
        message = f"the output is {fmt(model.output_type.shape)}"
        return [Label.model_construct(span=self.output_span, message=message)]

    def error(self, key: str, message: str, **details: object) -> None:
        self.diagnostics.error("E031", message, self._at(key), **details)  # type: ignore[arg-type]

    def warn(self, key: str, message: str, **details: object) -> None:
        self.diagnostics.warning("W006", message, self._at(key), **details)  # type: ignore[arg-type]

    # -- early stopping ----------------------------------------------------

    def _monitor(self) -> None:
        rule = self.spec.early_stopping
        if rule is None:
            return
        data = self.spec.data
        if rule.monitor.startswith("val_") and data.validation == 0:
            self.error(
                "early_stopping",
                f"early_stopping monitors {rule.monitor}, but the data has no validation split",
                labels=self.label("data", "no validation split"),
                help=[
                    f"hold out a validation split, data {self.source}(..., validation = 0.1), "
                    "or monitor train_loss"
                ],
            )
        if rule.monitor.startswith("test_") and self.facts and self.facts.test == 0:
            self.error(
                "early_stopping",
                f"early_stopping monitors {rule.monitor}, but the data has no test split",
                labels=self.label("data", "test = 0: no test split"),
                help=["hold out a test split (test = 0.2), or monitor val_loss"],
            )
        if rule.monitor.endswith("accuracy") and self.spec.loss.kind not in CLASSIFICATION:
            self.error(
                "early_stopping",
                f"early_stopping monitors {rule.monitor}, but {self.spec.loss.kind} is a "
                "regression loss: it has no accuracy",
                labels=self.label("loss", "a regression loss"),
                help=[f"monitor {rule.monitor.replace('accuracy', 'loss')} instead"],
            )
        epochs = self.spec.epochs
        if rule.patience >= epochs:
            self.warn(
                "early_stopping",
                f"early_stopping(patience = {rule.patience}) can never stop a run of "
                f"{epochs} epochs",
                labels=self.label("epochs", f"{epochs} epochs"),
                help=[f"use a patience below {epochs}, or more epochs"],
            )

    # -- data splits -------------------------------------------------------------------

    def _splits(self, facts: SourceFacts) -> None:
        data = self.spec.data
        if facts.samples is None:
            return
        n = facts.samples
        if facts.test:
            held = holdout_count(facts.test, n)
            if not self._holdout("test", facts.test, n, held, "samples"):
                return
            n -= held
        if data.limit:
            n = min(n, data.limit)
        if data.validation:
            held = holdout_count(data.validation, n)
            self._holdout("validation", data.validation, n, held, "training samples")

    def _holdout(self, option: str, fraction: float, n: int, held: int, what: str) -> bool:
        if 0 < held < n:
            return True
        if n == 1:
            message = (
                f"too few samples to split: {option} = {fraction:g} needs at least 2 samples "
                "(1 held out, 1 kept), but there is 1"
            )
            fix = f"use more samples, or {option} = 0 for no {option} split"
        elif held == 0:
            message = (
                f"{option} = {fraction:g} of {n} {what} holds out no sample, so the "
                f"{option} split would be empty"
            )
            fix = f"use {option} >= 1/{n} = {math.ceil(1e4 / n) / 1e4:g}, or {option} = 0"
        else:
            message = (
                f"{option} = {fraction:g} of {n} {what} holds out all {held}, so no "
                "training sample is left"
            )
            fix = f"use a smaller {option}, or more samples"
        self.error("data", f"data {self.source}: {message}", help=[fix])
        return False

    # -- the loss against the model's output -------------------------------------------

    def _loss_and_output(self, model: CheckedModel) -> None:
        loss = self.spec.loss
        output = model.output_type.shape
        labels = self.output_label(model)
        weights = getattr(loss, "class_weights", None)
        if weights is not None and len(output) == 1 and len(weights) != output[0]:
            self.error(
                "loss",
                f"softmax_cross_entropy has {len(weights)} class weights, but the model has "
                f"{output[0]} outputs (one per class)",
                labels=labels,
                help=[f"give class_weights {output[0]} entries, one per output"],
            )
        facts = self.facts
        if facts is None:
            return
        if facts.kind != "labels":
            self._targets(facts, model, labels)
            return
        if len(output) != 1:
            self.error(
                "loss",
                f"{loss.kind} on class labels needs an output of one value per class, "
                f"found {fmt(output)}",
                labels=labels,
                help=[f"end the model with flatten and dense({facts.classes})"],
            )
            return
        width = output[0]
        classes = facts.classes or 0
        data = self.spec.data
        # With `limit`, a few samples might not hold every class; otherwise they all occur.
        every_class = data.limit == 0
        if loss.kind == "binary_cross_entropy":
            if classes > 2 and every_class:
                self.error(
                    "loss",
                    f"binary_cross_entropy needs labels 0 or 1, but {self.source} has "
                    f"{classes} classes",
                    labels=self.label("data", f"{classes} classes"),
                    help=[f"use softmax_cross_entropy with dense({classes})"],
                )
            elif width != 1 and not data.one_hot:
                self.error(
                    "loss",
                    f"binary_cross_entropy on labels needs 1 output, the model has {width}",
                    labels=labels,
                    help=[
                        "end the model with dense(1), or add one_hot = true to the data",
                        "or use softmax_cross_entropy",
                    ],
                )
            return
        if loss.kind not in CLASSIFICATION and not data.one_hot:
            if width != 1:
                self.error(
                    "loss",
                    f"{loss.kind} on class labels needs one target per output, but the model "
                    f"has {width} outputs and each sample has one label",
                    labels=labels,
                    help=[
                        f"add one_hot = true to the data ({width} one-hot targets), or use "
                        "softmax_cross_entropy"
                    ],
                )
            return
        if width < classes and every_class:
            self.error(
                "data",
                f"{self.source} has {classes} classes, but the model has {width} outputs: "
                f"labels {width}..{classes - 1} have no output",
                labels=labels,
                help=[f"end the model with dense({classes})"],
            )

    def _targets(self, facts: SourceFacts, model: CheckedModel, labels: list[Label]) -> None:
        loss = self.spec.loss.kind
        if facts.kind == "steps":
            check_step_targets(self, facts.target_shape, model, labels)
            return
        if facts.kind == "soft" and loss == "softmax_cross_entropy":
            self.error(
                "loss",
                f"softmax_cross_entropy takes one class distribution per sample, but data "
                f"{self.source} makes one one-hot row per step, {fmt(facts.target_shape)}",
                labels=self.label("data", "one-hot targets per step"),
                help=["use binary_cross_entropy (one sigmoid per symbol and step) or mse"],
            )
            return
        if facts.kind == "targets" and loss in CLASSIFICATION:
            self.error(
                "loss",
                f"{loss} needs class labels, but data {self.source} makes real-valued targets",
                labels=self.label("data", "regression targets"),
                help=["use a regression loss: mse, half_sse or l1"],
            )
            return
        if self.spec.data.one_hot:
            self.error(
                "data",
                f"one_hot = true needs class labels, but data {self.source} makes "
                f"{'one-hot' if facts.kind == 'soft' else 'real-valued'} targets",
                help=["remove one_hot = true"],
            )
        if model.output_type.shape != facts.target_shape:
            self.error(
                "data",
                f"data {self.source} makes targets of shape {fmt(facts.target_shape)}, but the "
                f"model's output is {fmt(model.output_type.shape)}",
                labels=labels,
                help=[
                    f"end the model with dense({facts.target_shape[0]})"
                    if len(facts.target_shape) == 1
                    else f"make the model's output {_shape(facts.target_shape)}"
                ],
            )

    # -- the data's samples against the model's input ----------------------------------

    def _inputs(self, facts: SourceFacts, model: CheckedModel) -> None:
        """The rules of netspec.data._checks.layout, decided from the source's facts."""
        sample = facts.sample_shape
        wanted = model.input.shape
        flatten = self.spec.data.flatten
        size = math.prod(sample)
        shape = (size,) if flatten else sample
        if shape == wanted or (len(wanted) == 1 and size == wanted[0]):
            return
        if flatten and size == math.prod(wanted):
            fix = f"remove flatten = true: the model takes {_shape(wanted)}"
        elif len(sample) > 1:
            fix = (
                f"declare the model's input as {model.input.name}: {_shape(sample)} or "
                f"{model.input.name}: [{size}] (flattened)"
            )
        else:
            fix = f"declare the model's input as {model.input.name}: {_shape(shape)}"
        labels = []
        if self.input_span is not None:
            labels = [
                Label.model_construct(
                    span=self.input_span, message=f"the model's input is {_shape(wanted)}"
                )
            ]
        self.error(
            "data",
            f"data {self.source} gives samples of shape {fmt(shape)}, but the model's input "
            f"is {fmt(wanted)}",
            labels=labels,
            help=[fix],
        )


def check_train(
    spec: TrainSpec,
    model: CheckedModel | None,
    items: dict[str, Span],
    section: Span,
    diagnostics: Diagnostics,
    *,
    output_span: Span | None = None,
    input_spans: dict[str, Span] | None = None,
) -> None:
    """Report every static problem of ``spec``; ``model`` is None when it failed to check
    (then only the rules that need no model run)."""
    TrainChecker(
        spec,
        model,
        items,
        section,
        diagnostics,
        output_span=output_span,
        input_spans=input_spans,
    ).check()
