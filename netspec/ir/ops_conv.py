"""The IR's convolution and pooling ops, two- and one-dimensional, in their written and
checked forms (see ``netspec.ir.ops``, which joins them to the ``Op`` union and re-exports
them), with the pair and padding types they share with the resampling ops."""

from __future__ import annotations

from typing import Literal

from netspec.ir._base import IRModel
from netspec.ir.init import HeNormal, Init, Regularize, Zeros

Pair = tuple[int, int]
# ((top, bottom), (left, right)); the checker replaces "same" / "valid" by explicit pads.
Pads2d = tuple[Pair, Pair]
Padding = Pads2d | Literal["same", "valid"]
NO_PADDING: Pads2d = ((0, 0), (0, 0))
# (left, right) of the one axis of a [channels, length] sample.
Pads1d = Pair
Padding1d = Pads1d | Literal["same", "valid"]
NO_PADDING_1D: Pads1d = (0, 0)


class CheckedConv2d(IRModel):
    kind: Literal["conv2d"] = "conv2d"
    filters: int
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pads2d = NO_PADDING
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True


class Conv2d(CheckedConv2d):
    padding: Padding = NO_PADDING  # type: ignore[assignment]
    weight_init: Init = HeNormal()
    bias_init: Init = Zeros()
    regularize: Regularize = Regularize()


class CheckedConv2dTranspose(IRModel):
    """A transposed convolution (PyTorch's ConvTranspose2d): ``padding`` crops the same
    number of rows (columns) from both sides of an axis, as PyTorch's, and
    ``output_padding`` adds rows and columns at the bottom and right."""

    kind: Literal["conv2d_transpose"] = "conv2d_transpose"
    filters: int
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pads2d = NO_PADDING
    output_padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True


class Conv2dTranspose(CheckedConv2dTranspose):
    """A transposed convolution as written, with its initialisation and penalties."""

    weight_init: Init = HeNormal()
    bias_init: Init = Zeros()
    regularize: Regularize = Regularize()


class CheckedMaxPool(IRModel):
    kind: Literal["maxpool"] = "maxpool"
    kernel: Pair
    stride: Pair
    padding: Pads2d = NO_PADDING


class MaxPool(CheckedMaxPool):
    padding: Padding = NO_PADDING  # type: ignore[assignment]


class CheckedAvgPool(IRModel):
    """Average pooling; padded cells count in the divisor (PyTorch's default)."""

    kind: Literal["avgpool"] = "avgpool"
    kernel: Pair
    stride: Pair
    padding: Pads2d = NO_PADDING


class AvgPool(CheckedAvgPool):
    """Average pooling as written; padded cells count in the divisor (PyTorch's default)."""

    padding: Padding = NO_PADDING  # type: ignore[assignment]


class GlobalAvgPool(IRModel):
    """The mean over every axis after the channels: [C, H, W] or [C, L] to [C]."""

    kind: Literal["global_avgpool"] = "global_avgpool"


# -- one-dimensional convolution and pooling, over [channels, length] samples ---------------


class CheckedConv1d(IRModel):
    kind: Literal["conv1d"] = "conv1d"
    filters: int
    kernel: int
    stride: int = 1
    padding: Pads1d = NO_PADDING_1D
    dilation: int = 1
    groups: int = 1
    bias: bool = True


class Conv1d(CheckedConv1d):
    padding: Padding1d = NO_PADDING_1D  # type: ignore[assignment]
    weight_init: Init = HeNormal()
    bias_init: Init = Zeros()
    regularize: Regularize = Regularize()


class CheckedMaxPool1d(IRModel):
    kind: Literal["maxpool1d"] = "maxpool1d"
    kernel: int
    stride: int
    padding: Pads1d = NO_PADDING_1D


class MaxPool1d(CheckedMaxPool1d):
    padding: Padding1d = NO_PADDING_1D  # type: ignore[assignment]


class CheckedAvgPool1d(IRModel):
    """Average pooling over the length; padded cells count in the divisor (PyTorch's
    default)."""

    kind: Literal["avgpool1d"] = "avgpool1d"
    kernel: int
    stride: int
    padding: Pads1d = NO_PADDING_1D


class AvgPool1d(CheckedAvgPool1d):
    padding: Padding1d = NO_PADDING_1D  # type: ignore[assignment]
