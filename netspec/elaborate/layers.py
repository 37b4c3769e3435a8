"""The layer calls of the language: their signatures and how each becomes an IR op."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netspec.diagnostics import did_you_mean
from netspec.elaborate import convert as c
from netspec.elaborate.hints import foreign_argument
from netspec.elaborate.values import CallValue, Value
from netspec.ir import init as ir_init
from netspec.ir import ops
from netspec.ir.graph import Span
from netspec.ir.init import Regularize

REQUIRED = object()


@dataclass(frozen=True)
class LayerDefaults:
    """File-level defaults (``defaults { ... }``) with the train section's penalties."""

    init: Any = field(default_factory=ir_init.HeNormal)
    bias_init: Any = field(default_factory=ir_init.Zeros)
    regularize: Regularize = field(default_factory=Regularize)


@dataclass(frozen=True)
class Param:
    name: str
    convert: c.Converter
    default: Any = REQUIRED


def _bias(value: Value) -> Any:
    """``bias = false`` turns the bias off; ``bias = [..]`` sets it by hand."""
    if isinstance(value.data, tuple):
        return c.array(value)
    return c.boolean(value)


def _init_or_none(value: Value) -> Any:
    return c.init_scheme(value)


@dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...]
    positional: int
    build: Callable[[dict[str, Any], LayerDefaults], Any]
    # Merges take their tensors as positional arguments.
    tensors: bool = False
    example: str = ""

    def names(self) -> list[str]:
        return [p.name for p in self.params]


def _weights(args: dict[str, Any], defaults: LayerDefaults) -> tuple[Any, Any, bool, Regularize]:
    weight_init = args["init"] if args["init"] is not None else defaults.init
    if args["weight"] is not None:
        shape, values = args["weight"]
        weight_init = ir_init.LiteralValues.model_construct(shape=shape, values=values)
    bias = args["bias"]
    bias_init = args["bias_init"] if args["bias_init"] is not None else defaults.bias_init
    if isinstance(bias, tuple):
        shape, values = bias
        bias_init = ir_init.LiteralValues.model_construct(shape=shape, values=values)
        bias = True
    regularize = args["regularize"] if args["regularize"] is not None else defaults.regularize
    return weight_init, bias_init, bool(bias), regularize


def _dense(args: dict[str, Any], defaults: LayerDefaults) -> ops.Dense:
    weight_init, bias_init, bias, regularize = _weights(args, defaults)
    units = args["units"]
    if units is None:
        # dense(weight = [[...]]) takes its width from the hand-set weight.
        units = args["weight"][0][0]
    return ops.Dense.model_construct(
        units=units,
        bias=bias,
        weight_init=weight_init,
        bias_init=bias_init,
        regularize=regularize,
    )


def _conv(args: dict[str, Any], defaults: LayerDefaults) -> ops.Conv2d:
    weight_init, bias_init, bias, regularize = _weights(args, defaults)
    return ops.Conv2d.model_construct(
        filters=args["filters"],
        kernel=args["kernel"],
        stride=args["stride"],
        padding=args["padding"],
        dilation=args["dilation"],
        groups=args["groups"],
        bias=bias,
        weight_init=weight_init,
        bias_init=bias_init,
        regularize=regularize,
    )


def _pool(cls: type) -> Callable[[dict[str, Any], LayerDefaults], Any]:
    def build(args: dict[str, Any], defaults: LayerDefaults) -> Any:
        stride = args["stride"] if args["stride"] is not None else args["kernel"]
        return cls.model_construct(kernel=args["kernel"], stride=stride, padding=args["padding"])

    return build


def _simple(cls: type, *fields: str) -> Callable[[dict[str, Any], LayerDefaults], Any]:
    def build(args: dict[str, Any], defaults: LayerDefaults) -> Any:
        return cls.model_construct(**{name: args[name] for name in fields})

    return build


_WEIGHT_PARAMS = (
    Param("bias", _bias, True),
    Param("init", _init_or_none, None),
    Param("bias_init", _init_or_none, None),
    Param("weight", c.array, None),
    Param("regularize", c.regularize, None),
)

SIGNATURES: dict[str, Signature] = {
    "dense": Signature(
        (Param("units", c.positive_int, None), *_WEIGHT_PARAMS), 1, _dense, example="dense(10)"
    ),
    "conv2d": Signature(
        (
            Param("filters", c.positive_int),
            Param("kernel", c.pair),
            Param("stride", c.pair, (1, 1)),
            Param("padding", c.padding, ((0, 0), (0, 0))),
            Param("dilation", c.pair, (1, 1)),
            Param("groups", c.positive_int, 1),
            *_WEIGHT_PARAMS,
        ),
        3,
        _conv,
        example="conv2d(16, 3, padding = same)",
    ),
    "maxpool": Signature(
        (
            Param("kernel", c.pair),
            Param("stride", c.pair, None),
            Param("padding", c.padding, ((0, 0), (0, 0))),
        ),
        2,
        _pool(ops.MaxPool),
        example="maxpool(2)",
    ),
    "avgpool": Signature(
        (
            Param("kernel", c.pair),
            Param("stride", c.pair, None),
            Param("padding", c.padding, ((0, 0), (0, 0))),
        ),
        2,
        _pool(ops.AvgPool),
        example="avgpool(2)",
    ),
    "global_avgpool": Signature((), 0, _simple(ops.GlobalAvgPool)),
    "batchnorm": Signature(
        (
            Param("momentum", c.fraction, 0.1),
            Param("eps", c.positive_real, 1e-5),
            Param("affine", c.boolean, True),
        ),
        0,
        _simple(ops.BatchNorm, "momentum", "eps", "affine"),
    ),
    "dropout": Signature((Param("p", c.real, 0.5),), 1, _simple(ops.Dropout, "p")),
    "flatten": Signature((), 0, _simple(ops.Flatten)),
    "reshape": Signature(
        (Param("shape", c.int_list),),
        1,
        _simple(ops.Reshape, "shape"),
        example="reshape(1, 28, 28)",
    ),
    "add": Signature((), 0, _simple(ops.Add), tensors=True, example="add(x, h)"),
    "multiply": Signature((), 0, _simple(ops.Multiply), tensors=True, example="multiply(a, b)"),
    "concat": Signature(
        (Param("axis", c.integer, 0),),
        0,
        _simple(ops.Concat, "axis"),
        tensors=True,
        example="concat(a, b)",
    ),
    "identity": Signature((), 0, _simple(ops.Identity)),
    "step": Signature((), 0, _simple(ops.Step)),
    "sigmoid": Signature((), 0, _simple(ops.Sigmoid)),
    "tanh": Signature((), 0, _simple(ops.Tanh)),
    "relu": Signature((), 0, _simple(ops.Relu)),
    "leaky_relu": Signature(
        (Param("negative_slope", c.real, 0.01),), 1, _simple(ops.LeakyRelu, "negative_slope")
    ),
    "prelu": Signature(
        (Param("per_channel", c.boolean, False), Param("init", c.real, 0.25)),
        0,
        _simple(ops.Prelu, "per_channel", "init"),
    ),
    "elu": Signature((Param("alpha", c.positive_real, 1.0),), 1, _simple(ops.Elu, "alpha")),
    "gelu": Signature(
        (Param("approximate", c.word("none", "tanh"), "none"),),
        0,
        _simple(ops.Gelu, "approximate"),
    ),
    "softplus": Signature(
        (Param("beta", c.positive_real, 1.0), Param("threshold", c.positive_real, 20.0)),
        0,
        _simple(ops.Softplus, "beta", "threshold"),
    ),
    "softmax": Signature((Param("axis", c.integer, 0),), 1, _simple(ops.Softmax, "axis")),
    "log_softmax": Signature((Param("axis", c.integer, 0),), 1, _simple(ops.LogSoftmax, "axis")),
}

LAYER_NAMES: tuple[str, ...] = tuple(SIGNATURES)


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
    if kind == "reshape" and len(positional) > 1:
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
    given: dict[str, tuple[Value, Span]] = {}
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
    if kind == "dense" and args["units"] is None and args["weight"] is None:
        raise c.Invalid(
            "dense needs the number of units", span, ["for example: dense(10)"], code="E005"
        )
    if kind == "dense" and args["units"] is not None and args["weight"] is not None:
        expected = args["units"]
        shape = args["weight"][0]
        if shape[0] != expected:
            weight_value, _ = given["weight"]
            help = ["dense weights are [out, in]: one row per unit"]
            if len(shape) == 2 and shape[1] == expected:
                help.append(f"this looks like [in, out]: write its transpose ({expected} rows)")
            raise c.Invalid(
                f"dense({expected}) has a hand-set weight with {shape[0]} rows",
                weight_value.span,
                help,
                code="E013",
            )
    if kind in ("dense", "conv2d") and args["bias"] is False and args["bias_init"] is not None:
        raise c.Invalid("bias_init is given but bias = false", given["bias_init"][1], code="E004")
    return Bound(kind, args, tensors)


def build(bound: Bound, defaults: LayerDefaults) -> Any:
    return SIGNATURES[bound.kind].build(bound.args, defaults)
