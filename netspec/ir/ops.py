"""The operations of the IR: one frozen model per op kind, joined in a tagged union.

Shapes are per sample: the batch dimension is implicit everywhere in the IR. Layouts are
PyTorch's (NCHW; dense weight [out, in]; conv weight [out, in / groups, kh, kw]; transposed
conv weight [in, out / groups, kh, kw]).

An op has two forms. The written form (``Op``, in an unchecked ``Model``) is what a spec
says: a padding may be ``"same"``, an axis may count from the end, and a layer with
parameters says how to initialise and penalise them. The checked form (``CheckedOp``, in
a ``CheckedModel``) is what every backend reads: paddings are explicit, axes are
non-negative, and initialisation and penalties live only in the model's ``ParamSpec``
list. Where the two differ, the written class extends the checked one (so each field is
defined once) and widens or adds fields; every other op is its own checked form.
"""

from __future__ import annotations

import functools
import operator
from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from netspec.ir._base import IRModel
from netspec.ir.init import HeNormal, Init, Ones, Regularize, Zeros

# Each topic's classes live in a module of their own; re-exported here, so
# ``netspec.ir.ops`` stays the one place every op class is imported from.
from netspec.ir.ops_conv import (  # noqa: F401
    NO_PADDING,
    NO_PADDING_1D,
    AvgPool,
    AvgPool1d,
    CheckedAvgPool,
    CheckedAvgPool1d,
    CheckedConv1d,
    CheckedConv2d,
    CheckedConv2dTranspose,
    CheckedMaxPool,
    CheckedMaxPool1d,
    Conv1d,
    Conv2d,
    Conv2dTranspose,
    GlobalAvgPool,
    MaxPool,
    MaxPool1d,
    Padding,
    Padding1d,
    Pads1d,
    Pads2d,
    Pair,
)
from netspec.ir.ops_sequence import (  # noqa: F401
    CheckedEmbedding,
    CheckedGru,
    CheckedLstm,
    CheckedPositionalEmbedding,
    CheckedRnn,
    Embedding,
    Gru,
    Lstm,
    MultiHeadAttention,
    PositionalEmbedding,
    Rnn,
)

# A per-sample axis after checking: 0 is the first axis after the (implicit) batch axis.
Axis = Annotated[int, Field(ge=0)]


class CheckedDense(IRModel):
    kind: Literal["dense"] = "dense"
    units: int
    bias: bool = True


class Dense(CheckedDense):
    weight_init: Init = HeNormal()
    bias_init: Init = Zeros()
    regularize: Regularize = Regularize()


class CheckedBatchNorm(IRModel):
    kind: Literal["batchnorm"] = "batchnorm"
    momentum: float = 0.1
    eps: float = 1e-5
    affine: bool = True


class BatchNorm(CheckedBatchNorm):
    weight_init: Init = Ones()
    bias_init: Init = Zeros()


# -- per-sample normalisation (layer_norm, group_norm) ----------------------------------------
# No running statistics: the same in training and evaluation, as torch.nn.LayerNorm and
# torch.nn.GroupNorm. Variances are biased; ``affine`` is torch's ``elementwise_affine``.


class CheckedLayerNorm(IRModel):
    """Normalisation of each sample over its last ``axes`` axes together (1: the features
    of a [F] vector or of each step of a [T, F] sequence; 3: a whole [C, H, W] sample),
    as torch.nn.LayerNorm with ``normalized_shape`` those axes' sizes."""

    kind: Literal["layer_norm"] = "layer_norm"
    axes: Annotated[int, Field(ge=1)] = 1
    eps: float = 1e-5
    affine: bool = True


class LayerNorm(CheckedLayerNorm):
    """layer_norm as written, with the starting scale and shift."""

    weight_init: Init = Ones()
    bias_init: Init = Zeros()


class CheckedGroupNorm(IRModel):
    """Normalisation of each sample over groups of consecutive channels (axis 0) with the
    axes after them, as torch.nn.GroupNorm(groups, channels); a scale and shift per
    channel."""

    kind: Literal["group_norm"] = "group_norm"
    groups: Annotated[int, Field(ge=1)]
    eps: float = 1e-5
    affine: bool = True


class GroupNorm(CheckedGroupNorm):
    """group_norm as written, with the starting scale and shift."""

    weight_init: Init = Ones()
    bias_init: Init = Zeros()


class Dropout(IRModel):
    kind: Literal["dropout"] = "dropout"
    p: float = 0.5


class Flatten(IRModel):
    kind: Literal["flatten"] = "flatten"


class Reshape(IRModel):
    """Reshape the per-sample tensor; one entry may be -1 (inferred)."""

    kind: Literal["reshape"] = "reshape"
    shape: tuple[int, ...]


class Add(IRModel):
    kind: Literal["add"] = "add"


class Multiply(IRModel):
    kind: Literal["multiply"] = "multiply"


class CheckedConcat(IRModel):
    """Concatenate along a per-sample axis (0: features of a vector, channels of an image)."""

    kind: Literal["concat"] = "concat"
    axis: Axis = 0


class Concat(CheckedConcat):
    """Concatenate as written: a negative axis counts from the end."""

    axis: int = 0


class Identity(IRModel):
    kind: Literal["identity"] = "identity"


class Standardize(IRModel):
    """(x - mean) / std per input element, with fixed statistics held as the node's state
    (``mean`` and ``std``, the input's shape). The language has no word for it: the checker
    puts one after the input of a model trained on a standardised csv source, and training
    fills its state from the training split before the first step."""

    kind: Literal["standardize"] = "standardize"


class Step(IRModel):
    """Heaviside step: 1 where x > 0, else 0. Its gradient is zero everywhere."""

    kind: Literal["step"] = "step"


class Sigmoid(IRModel):
    kind: Literal["sigmoid"] = "sigmoid"


class Tanh(IRModel):
    kind: Literal["tanh"] = "tanh"


class Relu(IRModel):
    kind: Literal["relu"] = "relu"


class Silu(IRModel):
    """x * sigmoid(x), also called swish."""

    kind: Literal["silu"] = "silu"


class Mish(IRModel):
    """x * tanh(softplus(x))."""

    kind: Literal["mish"] = "mish"


class Relu6(IRModel):
    """min(max(x, 0), 6)."""

    kind: Literal["relu6"] = "relu6"


class HardSigmoid(IRModel):
    """min(max(x + 3, 0), 6) / 6, PyTorch's hardsigmoid."""

    kind: Literal["hard_sigmoid"] = "hard_sigmoid"


class HardSwish(IRModel):
    """x * hard_sigmoid(x), PyTorch's hardswish."""

    kind: Literal["hard_swish"] = "hard_swish"


class LeakyRelu(IRModel):
    kind: Literal["leaky_relu"] = "leaky_relu"
    negative_slope: float = 0.01


class CheckedPrelu(IRModel):
    """Learnable leaky ReLU: one slope per channel, or one shared slope."""

    kind: Literal["prelu"] = "prelu"
    per_channel: bool = False


class Prelu(CheckedPrelu):
    """Learnable leaky ReLU as written, with the slopes' starting value."""

    init: float = 0.25


class Elu(IRModel):
    kind: Literal["elu"] = "elu"
    alpha: float = 1.0


class Selu(IRModel):
    """scale * elu(x, alpha) with PyTorch's fixed scale and alpha (self-normalising)."""

    kind: Literal["selu"] = "selu"


class Gelu(IRModel):
    kind: Literal["gelu"] = "gelu"
    approximate: Literal["none", "tanh"] = "none"


class Softplus(IRModel):
    kind: Literal["softplus"] = "softplus"
    beta: float = 1.0
    threshold: float = 20.0


class CheckedSoftmax(IRModel):
    kind: Literal["softmax"] = "softmax"
    axis: Axis = 0


class Softmax(CheckedSoftmax):
    axis: int = 0


class CheckedLogSoftmax(IRModel):
    kind: Literal["log_softmax"] = "log_softmax"
    axis: Axis = 0


class LogSoftmax(CheckedLogSoftmax):
    axis: int = 0


# -- shape and resampling ops ------------------------------------------------------------------


class CheckedPermute(IRModel):
    """Reorder the per-sample axes (torch.permute; the batch axis stays first)."""

    kind: Literal["permute"] = "permute"
    axes: tuple[Axis, ...]


class Permute(CheckedPermute):
    """Reorder as written: a negative axis counts from the end."""

    axes: tuple[int, ...]  # type: ignore[assignment]


class CheckedTranspose(IRModel):
    """Swap two per-sample axes (torch.transpose; the batch axis stays first)."""

    kind: Literal["transpose"] = "transpose"
    axis0: Axis
    axis1: Axis


class Transpose(CheckedTranspose):
    """Swap as written: a negative axis counts from the end."""

    axis0: int  # type: ignore[assignment]
    axis1: int  # type: ignore[assignment]


class CheckedSlice(IRModel):
    """``x[start:stop:step]`` along one per-sample axis; the axis is kept, even at size 1.
    Checked: ``start`` and ``stop`` are in [0, size] and the result is not empty."""

    kind: Literal["slice"] = "slice"
    axis: Axis
    start: Annotated[int, Field(ge=0)]
    stop: Annotated[int, Field(ge=0)]
    step: Annotated[int, Field(ge=1)] = 1


class Slice(CheckedSlice):
    """Slice as written, with Python's rules: negative indices count from the end, indices
    past either end are clamped, and no ``stop`` means the end."""

    axis: int  # type: ignore[assignment]
    start: int  # type: ignore[assignment]
    stop: int | None = None  # type: ignore[assignment]


class AdaptiveAvgPool(IRModel):
    """torch.nn.AdaptiveAvgPool2d: output cell i of an axis of size n averages the input
    cells floor(i * n / size) up to ceil((i + 1) * n / size)."""

    kind: Literal["adaptive_avgpool"] = "adaptive_avgpool"
    size: Pair


class Upsample(IRModel):
    """torch.nn.Upsample with an integer ``scale_factor`` per spatial axis: ``nearest``
    (PyTorch's legacy nearest, source index floor(dst / scale)) or ``bilinear``."""

    kind: Literal["upsample"] = "upsample"
    scale: Pair
    mode: Literal["nearest", "bilinear"] = "nearest"
    align_corners: bool = False


Op = Annotated[
    Dense
    | Conv2d
    | Conv2dTranspose
    | MaxPool
    | AvgPool
    | GlobalAvgPool
    | Conv1d
    | MaxPool1d
    | AvgPool1d
    | BatchNorm
    | LayerNorm
    | GroupNorm
    | Dropout
    | Flatten
    | Reshape
    | Add
    | Multiply
    | Concat
    | Identity
    | Standardize
    | Step
    | Sigmoid
    | Tanh
    | Relu
    | Silu
    | Mish
    | Relu6
    | HardSigmoid
    | HardSwish
    | LeakyRelu
    | Prelu
    | Elu
    | Selu
    | Gelu
    | Softplus
    | Softmax
    | LogSoftmax
    | Permute
    | Transpose
    | Slice
    | AdaptiveAvgPool
    | Upsample
    | MultiHeadAttention
    | PositionalEmbedding
    | Rnn
    | Lstm
    | Gru
    | Embedding,
    Field(discriminator="kind"),
]


def op_classes(union: Any) -> tuple[type[IRModel], ...]:
    """The classes of a tagged union of op classes (``Op``, ``CheckedOp``), in its order."""
    return get_args(get_args(union)[0])


def checked_form(cls: type[IRModel]) -> type[IRModel]:
    """The checked form of a written op class: the checked class it extends, or itself."""
    base = cls.__base__
    return base if base is not None and base is not IRModel else cls


def to_checked(op: IRModel, **resolved: Any) -> IRModel:
    """``op`` in its checked form, with ``resolved`` (explicit pads, a non-negative axis)
    replacing what the checker worked out; fields only the written form has are dropped
    (the model's ``ParamSpec`` list holds them). The checker has validated every value."""
    cls = checked_form(type(op))
    if cls is type(op) and not resolved:
        return op
    values = {name: getattr(op, name) for name in cls.model_fields}
    return cls.model_construct(**{**values, **resolved})


# The checked union, derived from the written one so that no kind is listed twice. A
# static type checker cannot follow a union built at run time; pydantic can.
CheckedOp = Annotated[  # type: ignore[valid-type]
    functools.reduce(operator.or_, (checked_form(cls) for cls in op_classes(Op))),
    Field(discriminator="kind"),
]
