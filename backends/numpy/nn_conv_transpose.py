"""conv2d_transpose in NumPy, forward and backward, written with the convolution's kernels.

A transposed convolution is the input gradient of a convolution: its forward is
:func:`conv2d_input_grad` of the convolution whose weight it shares (the layout
[in, out / groups, kh, kw] is a convolution's [filters, channels / groups, kh, kw] with in
and out swapped), taken at the output size. Its backward runs that convolution forward:
the input gradient is the convolution of ``dy`` (cropped to the input's size when
``output_padding`` reaches past the stride), and the weight gradient is the convolution's
weight gradient with the roles of input and output swapped, from the columns of ``dy``.

Part of :mod:`netspec.backends.numpy.nn` (whose calling convention these follow and whose
``LOWERINGS`` takes :data:`CONV_TRANSPOSE` in); like every backend function they are copied
as they are into generated NumPy modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netspec.backends.numpy.nn_conv import _weight_grad, conv2d_columns, conv2d_input_grad
from netspec.ir import CheckedNode
from netspec.lowering import Lowering


def conv2d_transpose(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: Any,
    pads: Any,
    output_padding: Any,
    dilation: Any,
    groups: int,
) -> tuple[np.ndarray, Any]:
    """PyTorch's conv_transpose2d of ``x`` [N, C, H, W] with ``weight`` [C, F/G, KH, KW].

    ``pads`` ((top, bottom), (left, right)) are the rows and columns cropped from each
    side. Returns (y, x); y is [N, F, OH, OW] with OH = (H - 1) * stride - top - bottom +
    dilation * (KH - 1) + output_padding + 1 (and OW alike).
    """
    _, _, height, width = x.shape
    _, per_group, kh, kw = weight.shape
    (top, bottom), (left, right) = pads
    out_h = (height - 1) * stride[0] - top - bottom + dilation[0] * (kh - 1)
    out_w = (width - 1) * stride[1] - left - right + dilation[1] * (kw - 1)
    out_shape = (per_group * groups, out_h + output_padding[0] + 1, out_w + output_padding[1] + 1)
    y = conv2d_input_grad(
        x, weight, out_shape, stride=stride, pads=pads, dilation=dilation, groups=groups
    )
    if bias is not None:
        y += bias[:, None, None]
    return y, x


def conv2d_transpose_backward(
    dy: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: Any,
    pads: Any,
    output_padding: Any,
    dilation: Any,
    groups: int,
    need_dx: bool = True,
) -> tuple:
    """(dx, dweight[, dbias]): dx is the convolution of ``dy``, dweight pairs each input
    value with the window of ``dy`` it was spread over; dx None unless ``need_dx``."""
    n, channels, height, width = x.shape
    _, _, kh, kw = weight.shape
    (top, bottom), (left, right) = pads
    cols = conv2d_columns(dy, (kh, kw), stride=stride, pads=pads, dilation=dilation, groups=groups)
    # With output_padding >= stride (allowed under a larger dilation) dy holds windows
    # past the input's last row or column: they met no input value, so they are dropped.
    full_h = (dy.shape[2] + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    full_w = (dy.shape[3] + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if (full_h, full_w) != (height, width):
        cols = cols.reshape(*cols.shape[:3], full_h, full_w)[..., :height, :width]
        cols = cols.reshape(*cols.shape[:3], height * width)
    x4 = x.reshape(n, groups, channels // groups, height * width)
    dweight = _weight_grad(x4, cols).reshape(weight.shape)
    dparams = (dweight,) if bias is None else (dweight, dy.sum(axis=(0, 2, 3)))
    if not need_dx:
        return (None, *dparams)
    k = weight[0].size
    dx = np.matmul(weight.reshape(groups, channels // groups, k), cols)
    return (dx.reshape(n, channels, height, width), *dparams)


def _window(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {
        "stride": op.stride,
        "pads": op.padding,
        "output_padding": op.output_padding,
        "dilation": op.dilation,
        "groups": op.groups,
    }


CONV_TRANSPOSE: dict[str, Lowering] = {
    "conv2d_transpose": Lowering(
        fn=conv2d_transpose, static=_window, backward=conv2d_transpose_backward
    ),
}
