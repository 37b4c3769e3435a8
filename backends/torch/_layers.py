"""The layers that own parameters or state, as small ``torch.nn.Module`` classes.

Each one holds exactly the tensors the IR names (``weight``, ``bias``,
``running_mean``, ``running_var``, ``mean``, ``std``) so that ``state_dict()`` keys are
the IR's names.
Parameters are created empty and filled by the caller from
:func:`netspec.initializers.initial_params`: torch's own ``reset_parameters`` is never
run, which also leaves torch's global random state untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# (left, right, top, bottom): the order F.pad wants for the last two axes.
PadLRTB = tuple[int, int, int, int]


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> nn.Parameter:
    return nn.Parameter(torch.empty(shape, dtype=dtype))


class Scope(nn.Module):
    """A container for the layers of one block scope ("res1" in "res1.conv2d_1")."""

    def extra_repr(self) -> str:
        return "scope"


class Dense(nn.Module):
    """``y = x W^T + b`` with ``W`` of shape [out, in], as ``torch.nn.Linear``."""

    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = _empty((out_features, in_features), dtype)
        self.register_parameter("bias", _empty((out_features,), dtype) if bias else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, bias={self.bias is not None}"


class Conv2d(nn.Module):
    """A 2-D convolution with explicit, possibly asymmetric, zero padding.

    Symmetric padding goes to ``F.conv2d`` itself; asymmetric padding (TF-style "same"
    with a stride) is applied with ``F.pad`` first, since ``F.conv2d`` pads both sides
    equally.
    """

    def __init__(
        self,
        weight_shape: tuple[int, int, int, int],
        bias: bool,
        stride: tuple[int, int],
        pads: tuple[tuple[int, int], tuple[int, int]],
        dilation: tuple[int, int],
        groups: int,
        dtype: torch.dtype,
    ):
        super().__init__()
        self.weight = _empty(weight_shape, dtype)
        self.register_parameter("bias", _empty((weight_shape[0],), dtype) if bias else None)
        self.stride = stride
        self.dilation = dilation
        self.groups = groups
        (top, bottom), (left, right) = pads
        self.padding: tuple[int, int] = (0, 0)
        self.pre_pad: PadLRTB | None = None
        if top == bottom and left == right:
            self.padding = (top, left)
        else:
            self.pre_pad = (left, right, top, bottom)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad)
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        pads = self.pre_pad if self.pre_pad is not None else self.padding
        return (
            f"weight={tuple(self.weight.shape)}, stride={self.stride}, pads={pads}, "
            f"dilation={self.dilation}, groups={self.groups}, bias={self.bias is not None}"
        )


class BatchNorm(nn.Module):
    """Batch normalisation over axis 1 (features of [N, F], channels of [N, C, H, W]).

    As ``torch.nn.BatchNorm*d`` with an explicit momentum, but without the
    ``num_batches_tracked`` counter: with a fixed momentum PyTorch never reads it, and
    leaving it out keeps ``state_dict()`` loadable from the IR's names alone.
    """

    def __init__(
        self, features: int, momentum: float, eps: float, affine: bool, dtype: torch.dtype
    ):
        super().__init__()
        self.features = features
        self.momentum = momentum
        self.eps = eps
        self.register_parameter("weight", _empty((features,), dtype) if affine else None)
        self.register_parameter("bias", _empty((features,), dtype) if affine else None)
        self.register_buffer("running_mean", torch.zeros(features, dtype=dtype))
        self.register_buffer("running_var", torch.ones(features, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # F.batch_norm updates the running statistics in place in training mode, with
        # the unbiased batch variance, exactly as torch.nn.BatchNorm does.
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"features={self.features}, momentum={self.momentum}, eps={self.eps}, "
            f"affine={self.weight is not None}"
        )


class Standardize(nn.Module):
    """``(x - mean) / std`` per element, with fixed statistics held as buffers (in
    ``state_dict()``, never trained)."""

    def __init__(self, shape: tuple[int, ...], dtype: torch.dtype):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=dtype))
        self.register_buffer("std", torch.ones(shape, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"shape={tuple(self.mean.shape)}"


class PRelu(nn.Module):
    """Leaky ReLU with learnt slopes: one shared ([1]) or one per channel ([C])."""

    def __init__(self, slopes: int, dtype: torch.dtype):
        super().__init__()
        self.weight = _empty((slopes,), dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"slopes={self.weight.shape[0]}"
