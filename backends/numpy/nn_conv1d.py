"""conv1d, maxpool1d and avgpool1d: the 2-D kernels of :mod:`nn_conv` over a unit height.

A [N, C, L] batch is a [N, C, 1, L] image, a conv1d weight [F, C / G, K] a conv2d weight
[F, C / G, 1, K], and a 1-D window of kernel k, stride s and pads (left, right) is the
2-D window (1, k), (1, s), ((0, 0), (left, right)). The unit axis adds no term to any
sum and reorders none, so these compute exactly what the 2-D kernels compute: one
implementation of im2col, col2im and the pools' tie and NaN rules serves both ranks.
The axis is added and dropped as views (``x[:, :, None]``), so nothing is copied.

These functions follow the calling convention of :mod:`netspec.backends.numpy.nn` and are
copied as they are into generated NumPy modules, together with the 2-D kernels they call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netspec.backends.numpy.nn_conv import (
    avgpool,
    avgpool_backward,
    conv2d,
    conv2d_backward,
    maxpool,
    maxpool_backward,
)
from netspec.lowering import Lowering


def conv1d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: int,
    pads: Any,
    dilation: int,
    groups: int,
    workspace: dict | None = None,
) -> tuple[np.ndarray, Any]:
    """Grouped, strided, dilated 1-D cross-correlation (as PyTorch): conv2d over a unit
    height. ``pads`` is (left, right)."""
    y, cache = conv2d(
        x[:, :, None],
        weight[:, :, None],
        bias,
        stride=(1, stride),
        pads=((0, 0), pads),
        dilation=(1, dilation),
        groups=groups,
        workspace=workspace,
    )
    return y[:, :, 0], cache


def conv1d_backward(
    dy: np.ndarray,
    cache: Any,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: int,
    pads: Any,
    dilation: int,
    groups: int,
    need_dx: bool = True,
) -> tuple:
    """(dx, dweight[, dbias]) through conv2d's backward; dx None unless ``need_dx``."""
    dx, dweight, *dbias = conv2d_backward(
        dy[:, :, None],
        cache,
        weight[:, :, None],
        bias,
        stride=(1, stride),
        pads=((0, 0), pads),
        dilation=(1, dilation),
        groups=groups,
        need_dx=need_dx,
    )
    return (None if dx is None else dx[:, :, 0], dweight[:, :, 0], *dbias)


def maxpool1d(
    x: np.ndarray, *, kernel: int, stride: int, pads: Any, workspace: dict | None = None
) -> tuple[np.ndarray, Any]:
    """Max pooling over the -inf padded length: maxpool over a unit height (ties go to the
    first maximum, NaN wins, as PyTorch's CPU kernel)."""
    y, cache = maxpool(
        x[:, :, None],
        kernel=(1, kernel),
        stride=(1, stride),
        pads=((0, 0), pads),
        workspace=workspace,
    )
    return y[:, :, 0], cache


def maxpool1d_backward(
    dy: np.ndarray, cache: Any, *, kernel: int, stride: int, pads: Any
) -> np.ndarray:
    """Each window's gradient to the cell of its maximum; overlaps add."""
    dx = maxpool_backward(
        dy[:, :, None], cache, kernel=(1, kernel), stride=(1, stride), pads=((0, 0), pads)
    )
    return dx[:, :, 0]


def avgpool1d(
    x: np.ndarray, *, kernel: int, stride: int, pads: Any, workspace: dict | None = None
) -> tuple[np.ndarray, Any]:
    """Average pooling with zero padding over the length; the divisor is always the
    kernel (PyTorch's count_include_pad=True)."""
    y, cache = avgpool(
        x[:, :, None],
        kernel=(1, kernel),
        stride=(1, stride),
        pads=((0, 0), pads),
        workspace=workspace,
    )
    return y[:, :, 0], cache


def avgpool1d_backward(
    dy: np.ndarray, cache: Any, *, kernel: int, stride: int, pads: Any
) -> np.ndarray:
    """Each window adds dy / kernel to each of its cells; padding's share is dropped."""
    dx = avgpool_backward(
        dy[:, :, None], cache, kernel=(1, kernel), stride=(1, stride), pads=((0, 0), pads)
    )
    return dx[:, :, 0]


# -- the table --------------------------------------------------------------------------------


def _conv1d_window(node: Any) -> dict[str, Any]:
    op = node.op
    return {"stride": op.stride, "dilation": op.dilation, "groups": op.groups, "pads": op.padding}


def _pool1d_window(node: Any) -> dict[str, Any]:
    op = node.op
    return {"kernel": op.kernel, "stride": op.stride, "pads": op.padding}


CONV1D: dict[str, Lowering] = {
    "conv1d": Lowering(fn=conv1d, static=_conv1d_window, backward=conv1d_backward),
    "maxpool1d": Lowering(fn=maxpool1d, static=_pool1d_window, backward=maxpool1d_backward),
    "avgpool1d": Lowering(fn=avgpool1d, static=_pool1d_window, backward=avgpool1d_backward),
}
