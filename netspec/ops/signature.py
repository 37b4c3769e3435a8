"""How an op is called in the language: its arguments, their defaults and conversions,
the checks across arguments, and how the converted arguments become the IR op.

The elaborator (:func:`netspec.elaborate.layers.bind`) matches a call to a signature;
the registry (:mod:`netspec.ops.table`) holds one signature per op the language names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netspec.elaborate import convert as c
from netspec.elaborate.values import Symbol, Value
from netspec.ir import init as ir_init
from netspec.ir import ops
from netspec.ir.graph import Span
from netspec.ir.init import Regularize

REQUIRED = object()

# The arguments as written: each name's value and the span of the whole argument.
Given = dict[str, tuple[Value, Span]]


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


@dataclass(frozen=True)
class Signature:
    """The arguments of an op in the order they may be given positionally."""

    params: tuple[Param, ...]
    positional: int
    build: Callable[[dict[str, Any], LayerDefaults], Any]
    # Merges take their tensors as positional arguments.
    tensors: bool = False
    example: str = ""
    # Several positional values form the first argument's list: reshape(1, 28, 28).
    variadic: bool = False
    # Checks across arguments once each is converted; raises :class:`c.Invalid`.
    validate: Callable[[dict[str, Any], Given, Span], None] | None = None

    def names(self) -> list[str]:
        return [p.name for p in self.params]


def _bias(value: Value) -> Any:
    """``bias = false`` turns the bias off; ``bias = [..]`` sets it by hand."""
    if isinstance(value.data, tuple):
        return c.array(value)
    return c.boolean(value)


WEIGHT_PARAMS = (
    Param("bias", _bias, True),
    Param("init", c.init_scheme, None),
    Param("bias_init", c.init_scheme, None),
    Param("weight", c.array, None),
    Param("regularize", c.regularize, None),
)


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


def build_dense(args: dict[str, Any], defaults: LayerDefaults) -> ops.Dense:
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


def build_conv(cls: type) -> Callable[[dict[str, Any], LayerDefaults], Any]:
    """conv1d, conv2d and conv2d_transpose: the geometry as given (each field of the op
    that an argument names), the weights' initialisation and penalties from the
    arguments or the file's defaults."""

    def build(args: dict[str, Any], defaults: LayerDefaults) -> Any:
        weight_init, bias_init, bias, regularize = _weights(args, defaults)
        geometry = {name: args[name] for name in cls.model_fields if name in args}
        return cls.model_construct(
            **{
                **geometry,
                "bias": bias,
                "weight_init": weight_init,
                "bias_init": bias_init,
                "regularize": regularize,
            }
        )

    return build


def _transpose_pair(value: Value, name: str) -> tuple[int, int]:
    """p for both axes or [ph, pw], each >= 0; ``same`` and ``valid`` are refused."""
    data = value.data
    if isinstance(data, Symbol) and data.name in ("same", "valid"):
        # A transposed convolution's output size is set by its stride, padding and
        # output_padding: there is no input size for "same" to keep (PyTorch refuses too).
        raise c.Invalid(
            f"conv2d_transpose takes no {name} = {data.name}: its output size is "
            "(in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1",
            value.span,
            [
                f"give the {name} as a number or [height, width], e.g. with kernel 3 and "
                "stride 2, padding = 1 and output_padding = 1 double the size"
            ],
            code="E004",
        )
    if isinstance(data, tuple):
        if len(data) != 2 or any(isinstance(item.data, tuple) for item in data):
            raise c.Invalid(
                f"expected {name} p or [height, width], found {value.describe()}",
                value.span,
                ["conv2d_transpose pads both sides of an axis alike, as PyTorch does"],
            )
        return (c.non_negative_int(data[0]), c.non_negative_int(data[1]))
    number = c.non_negative_int(value)
    return (number, number)


def transpose_padding(value: Value) -> ops.Pads2d:
    """A transposed convolution's ``padding``: p or [ph, pw], the same on both sides of
    an axis (PyTorch's ConvTranspose2d), as explicit sides."""
    ph, pw = _transpose_pair(value, "padding")
    return ((ph, ph), (pw, pw))


def output_padding(value: Value) -> tuple[int, int]:
    """A transposed convolution's ``output_padding``: p or [ph, pw]."""
    return _transpose_pair(value, "output_padding")


def build_pool(cls: type) -> Callable[[dict[str, Any], LayerDefaults], Any]:
    """A pool's stride defaults to its kernel."""

    def build(args: dict[str, Any], defaults: LayerDefaults) -> Any:
        stride = args["stride"] if args["stride"] is not None else args["kernel"]
        return cls.model_construct(kernel=args["kernel"], stride=stride, padding=args["padding"])

    return build


def build_fields(cls: type, *fields: str) -> Callable[[dict[str, Any], LayerDefaults], Any]:
    """The op of ``cls`` with ``fields`` taken from the arguments of the same names."""

    def build(args: dict[str, Any], defaults: LayerDefaults) -> Any:
        return cls.model_construct(**{name: args[name] for name in fields})

    return build


def _bias_init_needs_bias(args: dict[str, Any], given: Given) -> None:
    if args["bias"] is False and args["bias_init"] is not None:
        raise c.Invalid("bias_init is given but bias = false", given["bias_init"][1], code="E004")


def validate_dense(args: dict[str, Any], given: Given, span: Span) -> None:
    """The width comes from ``units`` or from a hand-set weight, and they agree."""
    if args["units"] is None and args["weight"] is None:
        raise c.Invalid(
            "dense needs the number of units", span, ["for example: dense(10)"], code="E005"
        )
    if args["units"] is not None and args["weight"] is not None:
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
    _bias_init_needs_bias(args, given)


def validate_dropout(args: dict[str, Any], given: Given, span: Span) -> None:
    """p is a probability."""
    if not 0.0 <= args["p"] <= 1.0:
        raise c.Invalid(
            f"dropout probability must be between 0 and 1, found {args['p']:g}",
            span,
            ["p is the fraction of units dropped: 0.5 drops half"],
            code="E004",
        )


def validate_conv(args: dict[str, Any], given: Given, span: Span) -> None:
    """conv2d and conv1d: a bias initialiser needs a bias."""
    _bias_init_needs_bias(args, given)


def validate_conv2d_transpose(args: dict[str, Any], given: Given, span: Span) -> None:
    """PyTorch's rule: on each axis, output_padding is smaller than the stride or than
    the dilation (otherwise the added rows would lie past every window)."""
    for axis, name in enumerate(("height", "width")):
        extra = args["output_padding"][axis]
        stride, dilation = args["stride"][axis], args["dilation"][axis]
        if extra >= stride and extra >= dilation:
            both = args["output_padding"][0] == args["output_padding"][1]
            where = "" if both else f" ({name})"
            raise c.Invalid(
                f"conv2d_transpose output_padding{where} {extra} must be smaller than the "
                f"stride {stride} or the dilation {dilation}",
                given["output_padding"][1],
                [
                    "output_padding picks one of the stride's possible output sizes: "
                    f"use output_padding below {max(stride, dilation)}"
                ],
                code="E004",
            )
    _bias_init_needs_bias(args, given)
