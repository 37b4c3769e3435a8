"""The rules of the recurrent layers ``rnn``, ``lstm`` and ``gru``.

Their signature (building the IR op and the checks across arguments), shape rule, FLOPs,
parameters and summary text, kept together as :mod:`netspec.ops.resample` keeps the
resampling ops'. The layers are torch.nn.RNN, LSTM and GRU with ``batch_first=True``:
a sample is a sequence [T, F] (T steps of F features), the parameters are torch's, by
name, shape and gate order, so that a layer's weights load into the torch module with
``load_state_dict`` once the node's prefix is taken off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from netspec.elaborate import convert as c
from netspec.ir import ops
from netspec.ir.graph import ParamSpec, Span
from netspec.ir.init import LiteralValues, Regularize, Uniform
from netspec.ir.ops import to_checked
from netspec.ops.params import _param
from netspec.ops.shapes import Shape, Shaped, ShapeProblem, fmt
from netspec.ops.signature import Given, LayerDefaults, Param, Signature

# Rows of each weight per hidden unit: torch stacks the gates (LSTM i, f, g, o; GRU r, z, n).
GATES: dict[str, int] = {"rnn": 1, "lstm": 4, "gru": 3}
# Elementwise FLOPs per hidden unit and step, past the two matrix products, their sum and
# the biases: rnn its activation; lstm four gate activations, c = f c + i g (3), tanh c
# and o tanh c; gru three gate activations, r (W_hn h + b_hn), (1 - z) n + z h (4).
ELEMENTWISE: dict[str, int] = {"rnn": 1, "lstm": 9, "gru": 8}
_OFF = Regularize.model_construct()


def default_init(hidden: int) -> Uniform:
    """torch's initialisation of every recurrent weight and bias:
    uniform(-1/sqrt(hidden), 1/sqrt(hidden))."""
    bound = 1.0 / math.sqrt(hidden)
    return Uniform.model_construct(low=-bound, high=bound)


# -- the call ------------------------------------------------------------------------------


def signature(cls: type, example: str) -> Signature:
    """``rnn(hidden, nonlinearity)``, ``lstm(hidden)``, ``gru(hidden)`` and the keywords
    they share."""
    head = [Param("hidden", c.positive_int)]
    if cls is ops.Rnn:
        head.append(Param("nonlinearity", c.word("tanh", "relu"), "tanh"))
    return Signature(
        (
            *head,
            Param("layers", c.positive_int, 1),
            Param("bidirectional", c.boolean, False),
            Param("dropout", c.real, 0.0),
            Param("bias", c.boolean, True),
            Param("return_sequences", c.boolean, False),
            Param("init", c.init_scheme, None),
            Param("bias_init", c.init_scheme, None),
            Param("regularize", c.regularize, None),
        ),
        len(head),
        _build(cls),
        example=example,
        validate=_validate(str(cls.model_fields["kind"].default)),
    )


def _build(cls: type) -> Callable[[dict[str, Any], LayerDefaults], Any]:
    """The op as given. The file's ``defaults`` penalties apply; its initialisers do not:
    a recurrent layer starts from torch's uniform draws unless it names its own."""

    def build(args: dict[str, Any], defaults: LayerDefaults) -> Any:
        regularize = args["regularize"] if args["regularize"] is not None else defaults.regularize
        fields = {name: args[name] for name in cls.model_fields if name in args}
        fields |= {"weight_init": args["init"], "bias_init": args["bias_init"]}
        return cls.model_construct(**{**fields, "regularize": regularize})

    return build


def _validate(kind: str) -> Callable[[dict[str, Any], Given, Span], None]:
    """dropout is a probability and has stacked layers to act between; initialisers are
    schemes (a layer has several weights, so no hand-set array fits them all)."""

    def validate(args: dict[str, Any], given: Given, span: Span) -> None:
        dropout = args["dropout"]
        if not 0.0 <= dropout <= 1.0:
            raise c.Invalid(
                f"{kind} dropout must be between 0 and 1, found {dropout:g}",
                given["dropout"][1],
                ["dropout is the fraction of a layer's outputs dropped before the next layer"],
                code="E004",
            )
        if dropout > 0.0 and args["layers"] == 1:
            raise c.Invalid(
                f"{kind} dropout = {dropout:g} has no effect with one layer: it drops "
                "outputs between stacked layers",
                given["dropout"][1],
                [
                    f"stack layers: {kind}(..., layers = 2, dropout = {dropout:g}), or drop "
                    f"the layer's outputs with dropout({dropout:g}) after it"
                ],
                code="E004",
            )
        for key in ("init", "bias_init"):
            if isinstance(args[key], LiteralValues):
                raise c.Invalid(
                    f"{kind} {key} takes a scheme, not hand-set values: the layer has a "
                    "weight per layer, direction and input",
                    given[key][1],
                    ["for example: init = orthogonal, bias_init = zeros"],
                    code="E004",
                )
        if args["bias_init"] is not None and not args["bias"]:
            raise c.Invalid(
                "bias_init is given but bias = false", given["bias_init"][1], code="E004"
            )

    return validate


# -- shape, FLOPs, parameters, summary --------------------------------------------------------


def shape(op: Any, shapes: list[Shape]) -> Shaped:
    """[T, F] in; [T, H * D] out with ``return_sequences``, else [H * D]."""
    (sample,) = shapes
    if len(sample) != 2:
        raise ShapeProblem(
            "E010",
            f"{op.kind} needs a sequence [T, F] per sample (T steps of F features), "
            f"found {fmt(sample)}",
            notes=["the batch axis comes first and is not counted"],
            help=_sequence_help(op.kind, sample),
        )
    steps = sample[0]
    width = op.hidden * (2 if op.bidirectional else 1)
    out = (steps, width) if op.return_sequences else (width,)
    return Shaped(out, to_checked(op))


def _sequence_help(kind: str, sample: Shape) -> list[str]:
    """How to make a sequence of what the layer was given."""
    if len(sample) == 1:
        return [
            f"read the vector as {sample[0]} steps of one feature: reshape({sample[0]}, 1) "
            f"-> {kind}(...), or as steps of several features: reshape(T, F) with "
            f"T * F = {sample[0]}"
        ]
    if len(sample) == 3:
        channels, height, width = sample
        if channels == 1:
            return [
                f"read the image row by row, {height} steps of {width} features: "
                f"reshape({height}, {width}) -> {kind}(...)"
            ]
        return [
            f"read the image row by row: permute(1, 0, 2) -> reshape({height}, "
            f"{channels * width}) -> {kind}(...) gives {height} steps of every channel's row"
        ]
    return []


def flops(op: Any, shapes: list[Shape], out: Shape) -> int:
    """Per layer, direction and step: the two products (2 G H (in + H)), their sum (G H),
    the two biases (2 G H) and the cell's elementwise work (``ELEMENTWISE`` per unit)."""
    steps, features = shapes[0]
    rows = GATES[op.kind] * op.hidden
    directions = 2 if op.bidirectional else 1
    total = 0
    for layer in range(op.layers):
        width = features if layer == 0 else op.hidden * directions
        per_step = 2 * rows * (width + op.hidden) + rows + ELEMENTWISE[op.kind] * op.hidden
        per_step += 2 * rows if op.bias else 0
        total += directions * steps * per_step
    return total


def param_names(layers: int, bidirectional: bool, bias: bool) -> list[tuple[str, str]]:
    """(attribute, role) of every parameter in torch's order: per layer, per direction,
    weight_ih, weight_hh, bias_ih, bias_hh."""
    names = []
    for layer in range(layers):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            at = f"l{layer}{suffix}"
            names += [(f"weight_ih_{at}", "weight"), (f"weight_hh_{at}", "weight")]
            if bias:
                names += [(f"bias_ih_{at}", "bias"), (f"bias_hh_{at}", "bias")]
    return names


def params(node: str, op: Any, input_shape: Shape) -> list[ParamSpec]:
    """torch's parameters: weight_ih [G H, in] (in: the features, then H * D), weight_hh
    [G H, H], bias_ih and bias_hh [G H]; the weights carry the layer's penalties."""
    rows = GATES[op.kind] * op.hidden
    directions = 2 if op.bidirectional else 1
    default = default_init(op.hidden)
    weight_init = op.weight_init if op.weight_init is not None else default
    bias_init = op.bias_init if op.bias_init is not None else default
    specs = []
    for attr, role in param_names(op.layers, op.bidirectional, op.bias):
        layer = int(attr.split("_l")[1].split("_")[0])
        if attr.startswith("weight_ih"):
            width = input_shape[1] if layer == 0 else op.hidden * directions
            specs.append(_param(node, attr, role, (rows, width), weight_init, op.regularize))
        elif attr.startswith("weight_hh"):
            specs.append(_param(node, attr, role, (rows, op.hidden), weight_init, op.regularize))
        else:
            specs.append(_param(node, attr, role, (rows,), bias_init, _OFF))
    return specs


def written_inits(hidden: int, params: list[ParamSpec]) -> dict[str, Any]:
    """The written op's initialisers and penalties, from its parameters: None where the
    initialiser is torch's default (the layer was written without one)."""
    default = default_init(hidden)
    found: dict[str, Any] = {}
    for spec in params:
        if spec.role == "weight" and "weight_init" not in found:
            found["weight_init"] = None if spec.init == default else spec.init
            found["regularize"] = spec.regularize
        elif spec.role == "bias" and "bias_init" not in found:
            found["bias_init"] = None if spec.init == default else spec.init
    return found


def summary(op: Any) -> tuple[list[str], frozenset[str]]:
    """The hidden size, positional."""
    return [str(op.hidden)], frozenset({"hidden"})
