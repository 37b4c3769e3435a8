"""The operations of the IR: one frozen model per op kind, joined in a tagged union.

Shapes are per sample: the batch dimension is implicit everywhere in the IR. Layouts are
PyTorch's (NCHW; dense weight [out, in]; conv weight [out, in / groups, kh, kw]).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from netspec.ir._base import IRModel
from netspec.ir.init import HeNormal, Init, Ones, Regularize, Zeros

Pair = tuple[int, int]
# ((top, bottom), (left, right)); the checker replaces "same" / "valid" by explicit pads.
Pads2d = tuple[Pair, Pair]
Padding = Pads2d | Literal["same", "valid"]


class Dense(IRModel):
    kind: Literal["dense"] = "dense"
    units: int
    bias: bool = True
    weight_init: Init = HeNormal()
    bias_init: Init = Zeros()
    regularize: Regularize = Regularize()


class Conv2d(IRModel):
    kind: Literal["conv2d"] = "conv2d"
    filters: int
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Padding = ((0, 0), (0, 0))
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True
    weight_init: Init = HeNormal()
    bias_init: Init = Zeros()
    regularize: Regularize = Regularize()


class MaxPool(IRModel):
    kind: Literal["maxpool"] = "maxpool"
    kernel: Pair
    stride: Pair
    padding: Padding = ((0, 0), (0, 0))


class AvgPool(IRModel):
    """Average pooling; padded cells count in the divisor (PyTorch's default)."""

    kind: Literal["avgpool"] = "avgpool"
    kernel: Pair
    stride: Pair
    padding: Padding = ((0, 0), (0, 0))


class GlobalAvgPool(IRModel):
    kind: Literal["global_avgpool"] = "global_avgpool"


class BatchNorm(IRModel):
    kind: Literal["batchnorm"] = "batchnorm"
    momentum: float = 0.1
    eps: float = 1e-5
    affine: bool = True
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


class Concat(IRModel):
    """Concatenate along a per-sample axis (0: features of a vector, channels of an image)."""

    kind: Literal["concat"] = "concat"
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


class Prelu(IRModel):
    """Learnable leaky ReLU: one slope per channel, or one shared slope."""

    kind: Literal["prelu"] = "prelu"
    per_channel: bool = False
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


class Softmax(IRModel):
    kind: Literal["softmax"] = "softmax"
    axis: int = 0


class LogSoftmax(IRModel):
    kind: Literal["log_softmax"] = "log_softmax"
    axis: int = 0


Op = Annotated[
    Dense
    | Conv2d
    | MaxPool
    | AvgPool
    | GlobalAvgPool
    | BatchNorm
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
    | LogSoftmax,
    Field(discriminator="kind"),
]
