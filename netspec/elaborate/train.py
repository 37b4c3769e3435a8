"""Elaborate a train section into a TrainSpec; each line is ``key args``."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple, get_args, get_origin

from netspec.diagnostics import did_you_mean
from netspec.elaborate import convert as c
from netspec.elaborate.train_augment import POSITIONAL as AUGMENT_POSITIONAL
from netspec.elaborate.train_augment import augmentation, check_augment_source
from netspec.elaborate.values import CallValue, Symbol, Value
from netspec.ir import train as t
from netspec.ir.graph import Span
from netspec.ir.init import Regularize

DATA_SOURCES: dict[str, type] = {
    "mnist": t.MnistData,
    "fashion_mnist": t.FashionMnistData,
    "digits": t.DigitsData,
    "linear": t.LinearData,
    "polynomial": t.PolynomialData,
    "xor": t.XorData,
    "spirals": t.SpiralsData,
    "sine": t.SineData,
    "adding": t.AddingData,
    "copy": t.CopyData,
    "csv": t.CsvData,
    "npz": t.NpzData,
    "text": t.TextData,
}
LOSSES: dict[str, type] = {
    "softmax_cross_entropy": t.SoftmaxCrossEntropy,
    "binary_cross_entropy": t.BinaryCrossEntropy,
    "mse": t.MeanSquaredError,
    "half_sse": t.HalfSumSquaredError,
    "l1": t.MeanAbsoluteError,
}
# momentum and nesterov are SGD with those switches on, as in PyTorch's torch.optim.SGD.
OPTIMIZERS: dict[str, tuple[type, dict[str, Any]]] = {
    "sgd": (t.Sgd, {}),
    "momentum": (t.Sgd, {"momentum": 0.9}),
    "nesterov": (t.Sgd, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (t.Adagrad, {}),
    "rmsprop": (t.Rmsprop, {}),
    "adam": (t.Adam, {}),
    "adamw": (t.AdamW, {}),
}
SCHEDULES: dict[str, tuple[type, dict[str, Any]]] = {
    "constant": (t.ConstantSchedule, {}),
    "warmup": (t.ConstantSchedule, {}),
    "step": (t.StepSchedule, {}),
    "exponential": (t.ExponentialSchedule, {}),
    "cosine": (t.CosineSchedule, {}),
    "reduce_on_plateau": (t.ReduceOnPlateauSchedule, {}),
    "one_cycle": (t.OneCycleSchedule, {}),
}
_POSITIONAL: dict[type, tuple[str, ...]] = {
    t.SineData: ("length",),
    t.AddingData: ("length",),
    t.CopyData: ("length",),
    t.CsvData: ("path", "target"),
    t.NpzData: ("path",),
    t.TextData: ("path", "window"),
    t.Sgd: ("lr",),
    t.Adagrad: ("lr",),
    t.Rmsprop: ("lr",),
    t.Adam: ("lr",),
    t.AdamW: ("lr",),
    t.StepSchedule: ("step_size", "gamma"),
    t.ExponentialSchedule: ("gamma",),
    t.CosineSchedule: ("t_max", "eta_min"),
    t.ConstantSchedule: ("warmup",),
    t.SoftmaxCrossEntropy: ("class_weights",),
    t.TopKAccuracy: ("k",),
    t.ReduceOnPlateauSchedule: ("monitor",),
    t.OneCycleSchedule: ("max_lr",),
    t.EmaSpec: ("decay",),
    **AUGMENT_POSITIONAL,
}
# The compute precisions of a train section's `precision`.
PRECISIONS: tuple[str, ...] = get_args(t.Precision)
KEYS = (
    "data",
    "loss",
    "optimizer",
    "schedule",
    "regularize",
    "clip",
    "batch_size",
    "epochs",
    "seed",
    "metrics",
    "early_stopping",
    "target",
    "ema",
    "precision",
)


def _field_converter(annotation: Any) -> Callable[[Value], Any]:
    """A converter for a pydantic field's annotation (the few kinds the train IR uses)."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        inner = _field_converter(options[0])

        def optional(value: Value) -> Any:
            if isinstance(value.data, Symbol) and value.data.name == "none":
                return None
            return inner(value)

        return optional
    if origin is Literal:
        return c.word(*get_args(annotation))
    if origin is tuple:
        item = _field_converter(get_args(annotation)[0])

        def sequence(value: Value) -> tuple[Any, ...]:
            items = value.data if isinstance(value.data, tuple) else (value,)
            return tuple(item(v) for v in items)

        return sequence
    if annotation is t.CsvInput:
        return _csv_input
    if annotation is t.Augmentation:
        return augmentation
    if annotation is bool:
        return c.boolean
    if annotation is int:
        return c.non_negative_int
    if annotation is float:
        return c.real
    if annotation is str:
        return c.string
    raise TypeError(f"no converter for {annotation!r}")


def _csv_input(value: Value) -> t.CsvInput:
    """``image("p0", "p1")``: a model input's name and its csv columns, in order."""
    data = value.data
    if not isinstance(data, CallValue) or data.kwargs or not data.args:
        raise c.Invalid(
            f'expected an input\'s column group, NAME("column", ...), found {value.describe()}',
            value.span,
            ['e.g. inputs = [image("p0", "p1"), extra("age")]'],
            code="E006",
        )
    return t.CsvInput.model_construct(
        name=data.name, columns=tuple(c.string(arg) for arg in data.args)
    )


def typed_call(cls: type, name: str, value: Value, preset: dict[str, Any] | None = None) -> Any:
    """Build ``cls`` from ``name(args, key = value)`` (or a bare ``name``)."""
    call = value.data if isinstance(value.data, CallValue) else None
    args = call.args if call else ()
    kwargs = call.kwargs if call else ()
    fields = {f: info for f, info in cls.model_fields.items() if f not in ("kind", "source")}
    positional = _POSITIONAL.get(cls, ())
    if len(args) > len(positional):
        raise c.Invalid(
            f"{name} takes {len(positional)} positional argument"
            f"{'s' if len(positional) != 1 else ''}, found {len(args)}",
            args[len(positional)].span,
            [f"name them: {', '.join(list(fields)[:4])} = ..."]
            if fields
            else [f"{name} takes no arguments"],
            code="E004",
        )
    values = dict(preset or {})
    pairs: list[tuple[str, Value, Span]] = [
        (key, arg, arg.span) for key, arg in zip(positional, args, strict=False)
    ]
    pairs += list(kwargs)
    given: set[str] = set()
    unknown = [
        c.Invalid(
            f"{name} has no argument '{key}'",
            key_span,
            did_you_mean(key, fields) or [f"its arguments: {', '.join(fields) or 'none'}"],
            code="E004",
        )
        for key, _, key_span in pairs
        if key not in fields
    ]
    if unknown:
        # Every unknown argument of the call is reported, not only the first.
        raise c.Invalid.all_of(unknown)
    for key, arg, key_span in pairs:
        if key in given:
            raise c.Invalid(f"argument '{key}' is given twice", key_span, code="E003")
        given.add(key)
        values[key] = _field_converter(fields[key].annotation)(arg)
        _check_range(name, key, values[key], arg.span)
    missing = [f for f, info in fields.items() if info.is_required() and f not in values]
    if missing:
        raise c.Invalid(f"{name} needs the argument '{missing[0]}'", value.span, code="E005")
    return cls.model_construct(**values)


# Values outside these ranges would make the trainer fail or diverge (PyTorch's optimizers
# refuse them too): (low, low included, high or None).
_RANGES: dict[str, tuple[float, bool, float | None]] = {
    "momentum": (0.0, True, None),
    "dampening": (0.0, True, None),
    "eps": (0.0, True, None),
    "weight_decay": (0.0, True, None),
    "lr_decay": (0.0, True, None),
    "initial_accumulator_value": (0.0, True, None),
    "alpha": (0.0, True, None),
    "beta1": (0.0, True, 1.0),
    "beta2": (0.0, True, 1.0),
    "gamma": (0.0, False, None),
    "eta_min": (0.0, True, None),
    "noise": (0.0, True, None),
    "min_delta": (0.0, True, None),
    "step_size": (0.0, False, None),
    "t_max": (0.0, False, None),
    "samples": (0.0, False, None),
    "features": (0.0, False, None),
    "classes": (0.0, False, None),
    "degree": (0.0, False, None),
    "length": (0.0, False, None),
    "symbols": (0.0, False, None),
    "remember": (0.0, False, None),
    "k": (0.0, False, None),
    "padding": (0.0, False, None),
    "pixels": (0.0, False, None),
    "factor": (0.0, False, 1.0),
    "min_lr": (0.0, True, None),
    "max_lr": (0.0, False, None),
    "pct_start": (0.0, False, 1.0),
    "div_factor": (0.0, False, None),
    "final_div_factor": (0.0, False, None),
    "decay": (0.0, False, 1.0),
    # Cycles per step: above 0.5 a sampled sine is the alias of a slower one (Nyquist).
    "min_frequency": (0.0, False, 0.5),
    "max_frequency": (0.0, False, 0.5),
}


def _check_range(name: str, key: str, number: Any, span: Span) -> None:
    if key not in _RANGES or isinstance(number, bool) or not isinstance(number, int | float):
        return
    low, closed, high = _RANGES[key]
    if (number < low if closed else number <= low) or (high is not None and number >= high):
        opening = "[" if closed else "("
        wanted = (
            f"in {opening}{low:g}, {high:g})"
            if high is not None
            else f"{'>=' if closed else '>'} {low:g}"
        )
        raise c.Invalid(f"{name}: {key} must be {wanted}, found {number:g}", span, code="E004")


def _choose(table: dict[str, Any], value: Value, what: str) -> tuple[str, Any]:
    data = value.data
    name = data.name if isinstance(data, Symbol | CallValue) else None
    if name is None:
        raise c.Invalid(f"expected {what}, found {value.describe()}", value.span)
    if name not in table:
        raise c.Invalid(
            f"unknown {what} '{name}'",
            value.span,
            did_you_mean(name, table) or [f"known: {', '.join(table)}"],
            code="E002",
        )
    return name, table[name]


def _argument_span(value: Value, cls: type, key: str) -> Span:
    """Where ``key`` is written in the call ``value`` (the whole call when left out)."""
    call = value.data if isinstance(value.data, CallValue) else None
    if call is None:
        return value.span
    for name, arg, _ in call.kwargs:
        if name == key:
            return arg.span
    positional = _POSITIONAL.get(cls, ())
    for name, arg in zip(positional, call.args, strict=False):
        if name == key:
            return arg.span
    return value.span


def _data(value: Value) -> Any:
    name, cls = _choose(DATA_SOURCES, value, "data source")
    spec = typed_call(cls, name, value)
    check_augment_source(name, spec, _argument_span(value, cls, "augment"))
    fractions = [f for f in ("validation", "test") if hasattr(spec, f)]
    for f in fractions:
        if not 0.0 <= getattr(spec, f) < 1.0:
            raise c.Invalid(f"{f} must be a fraction in [0, 1)", value.span, code="E004")
    if isinstance(spec, t.AddingData) and spec.length < 2:
        raise c.Invalid(
            f"adding: length must be >= 2 (one marked step in each half), found {spec.length}",
            _argument_span(value, cls, "length"),
            ["write e.g. length = 50"],
            code="E004",
        )
    if isinstance(spec, t.SineData) and spec.min_frequency > spec.max_frequency:
        raise c.Invalid(
            f"sine: min_frequency = {spec.min_frequency:g} is above max_frequency = "
            f"{spec.max_frequency:g}",
            _argument_span(value, cls, "min_frequency"),
            ["give a range with min_frequency <= max_frequency"],
            code="E004",
        )
    return spec


def _loss(value: Value) -> Any:
    name, cls = _choose(LOSSES, value, "loss")
    return typed_call(cls, name, value)


def _optimizer(value: Value) -> Any:
    name, (cls, preset) = _choose(OPTIMIZERS, value, "optimizer")
    spec = typed_call(cls, name, value, preset)
    if spec.lr <= 0:
        raise c.Invalid(
            f"the learning rate must be > 0, found {spec.lr:g}", value.span, code="E004"
        )
    if getattr(spec, "nesterov", False) and spec.momentum <= 0:
        raise c.Invalid("nesterov needs momentum > 0", value.span, code="E004")
    if getattr(spec, "nesterov", False) and spec.dampening != 0:
        # PyTorch's SGD refuses the combination: Nesterov's look-ahead assumes no dampening.
        raise c.Invalid(
            f"nesterov needs dampening = 0, found {spec.dampening:g}",
            value.span,
            ["drop dampening, or use momentum without nesterov"],
            code="E004",
        )
    return spec


def _schedule(value: Value) -> Any:
    name, (cls, preset) = _choose(SCHEDULES, value, "schedule")
    spec = typed_call(cls, name, value, preset)
    if isinstance(spec, t.OneCycleSchedule) and spec.warmup:
        raise c.Invalid(
            "one_cycle has its own warm-up, the first pct_start of the steps: it takes no warmup",
            _argument_span(value, cls, "warmup"),
            ["drop warmup; set pct_start = 0.3 (the share of the steps spent rising)"],
            code="E004",
        )
    return spec


def _clip(value: Value) -> t.ClipSpec:
    data = value.data
    if not isinstance(data, CallValue) or data.name not in ("norm", "value") or len(data.args) != 1:
        name = data.name if isinstance(data, Symbol | CallValue) else ""
        if name in ("norm", "value"):
            help = [f"give one threshold: {name}(1.0)"]
        else:
            help = did_you_mean(name, ("norm", "value")) if name else []
        raise c.Invalid(f"expected norm(x) or value(x), found {value.describe()}", value.span, help)
    return t.ClipSpec.model_construct(by=data.name, threshold=c.positive_real(data.args[0]))  # type: ignore[arg-type]


# A model has one output, its last statement's, and is trained on one loss of it.
ONE_LOSS = (
    "a model has exactly one output and a train section one loss; several outputs or "
    "losses are not supported: keep one loss"
)

METRICS = ("loss", "accuracy", "mae", "perplexity", "top_k_accuracy")


def _metric(value: Value) -> str | t.TopKAccuracy:
    data = value.data
    if isinstance(data, CallValue | Symbol) and data.name == "top_k_accuracy":
        return typed_call(t.TopKAccuracy, "top_k_accuracy", value)
    if isinstance(data, CallValue) and data.name in METRICS:
        raise c.Invalid(f"{data.name} takes no arguments", value.span, code="E004")
    name, _ = _choose(dict.fromkeys(METRICS), value, "metric")
    return name


def _metrics(args: Sequence[Value]) -> tuple[str | t.TopKAccuracy, ...]:
    """The metrics in their written order, once each; every bad one is reported."""
    metrics: list[str | t.TopKAccuracy] = []
    problems: list[c.Invalid] = []
    for arg in args:
        try:
            metrics.append(_metric(arg))
        except c.Invalid as error:
            problems.extend(error.each())
    if problems:
        raise c.Invalid.all_of(problems)
    return tuple(dict.fromkeys(metrics))


def _early_stopping(
    args: Sequence[Value], kwargs: Sequence[tuple[str, Value, Span]], span: Span
) -> t.EarlyStopping:
    call = Value(CallValue("early_stopping", tuple(args), tuple(kwargs)), span)
    return typed_call(t.EarlyStopping, "early_stopping", call)


class TrainSection(NamedTuple):
    """A train section as elaborated, before the checker turns it into a TrainSpec."""

    model: str
    span: Span
    found: dict[str, Any]
    regularize: Regularize | None
    # Every setting written, including those whose value was rejected (and reported).
    written: frozenset[str]
    # Where each setting is written: the whole item, key and values.
    item_spans: dict[str, Span]


def convert_setting(key: str, value: Value) -> Any:
    """The IR value of a train setting of one value; raises :class:`c.Invalid`."""
    if key == "data":
        return _data(value)
    if key == "loss":
        return _loss(value)
    if key == "optimizer":
        return _optimizer(value)
    if key == "schedule":
        return _schedule(value)
    if key == "clip":
        return _clip(value)
    if key in ("batch_size", "epochs"):
        return c.positive_int(value)
    if key == "seed":
        return c.non_negative_int(value)
    if key == "target":
        return c.word("data", "input")(value)
    if key == "precision":
        return c.word(*PRECISIONS)(value)
    raise AssertionError(key)
