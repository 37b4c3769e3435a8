"""conv2d through im2col / col2im, and max / average / global pooling: forward and backward.

(conv1d, maxpool1d and avgpool1d run these kernels over a unit height: ``nn_conv1d``.)

Layout NCHW. The columns of a batch are ``[N, C, KH, KW, OH, OW]``: channels come first, so
that grouping is a reshape to ``[N, G, C/G * KH * KW, OH * OW]`` and one broadcast
``matmul`` with the weight ``[G, F/G, C/G * KH * KW]`` gives the output directly in NCHW,
with no transpose. Columns are gathered in one copy from a strided window view
(``sliding_window_view``); col2im and pooling loop over the KH * KW kernel offsets only,
each step a vectorised strided slice over the whole batch.

These functions follow the calling convention of :mod:`netspec.backends.numpy.nn` and are
copied as they are into generated NumPy modules, so they use only ``np``,
``sliding_window_view`` and each other. ``pads`` is ``((top, bottom), (left, right))``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Bytes of per-sample weight gradients held at once before they are summed.
_WEIGHT_GRAD_BUDGET = 32 * 2**20


def _pad(x: np.ndarray, pads: Any, fill: float, workspace: dict | None = None) -> np.ndarray:
    """``x`` [N, C, H, W] padded with ``fill``; with a workspace, in a buffer kept there
    between calls (only the interior is rewritten, so the border keeps its fill)."""
    (top, bottom), (left, right) = pads
    if not (top or bottom or left or right):
        return x
    n, channels, height, width = x.shape
    shape = (n, channels, height + top + bottom, width + left + right)
    buf = None if workspace is None else workspace.get(("pad", fill))
    if buf is None or buf.shape != shape or buf.dtype != x.dtype:
        buf = np.full(shape, fill, dtype=x.dtype)
        if workspace is not None:
            workspace[("pad", fill)] = buf
    buf[:, :, top : top + height, left : left + width] = x
    return buf


def _offset(i: int, j: int, stride: Any, dilation: Any, out_h: int, out_w: int) -> tuple:
    """The strided slices of the padded input that kernel offset (i, j) reads."""
    h0, w0 = i * dilation[0], j * dilation[1]
    return (
        slice(None),
        slice(None),
        slice(h0, h0 + stride[0] * (out_h - 1) + 1, stride[0]),
        slice(w0, w0 + stride[1] * (out_w - 1) + 1, stride[1]),
    )


def _padded_zeros(in_shape: tuple, n: int, pads: Any, dtype: Any) -> np.ndarray:
    """A zero gradient for the padded input of a batch of ``n`` samples [C, H, W]."""
    (top, bottom), (left, right) = pads
    channels, height, width = in_shape
    return np.zeros((n, channels, height + top + bottom, width + left + right), dtype=dtype)


def _unpad(dxp: np.ndarray, in_shape: tuple, pads: Any) -> np.ndarray:
    """The gradient of the input, given that of the padded input (padding's is dropped)."""
    (top, _), (left, _) = pads
    return dxp[:, :, top : top + in_shape[1], left : left + in_shape[2]]


def _weight_grad(dy4: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """dW[g] = sum_n dy[n, g] @ cols[n, g]^T, as [G, F/G, K].

    One broadcast matmul per chunk of samples (BLAS reads the swapped axes in place),
    then a sum over the chunk; chunks keep the per-sample products of a wide layer from
    filling memory.
    """
    n, groups, fg, _ = dy4.shape
    per_sample = groups * fg * cols.shape[2] * dy4.itemsize
    chunk = max(1, _WEIGHT_GRAD_BUDGET // per_sample)
    total = np.matmul(dy4[:chunk], cols[:chunk].swapaxes(-1, -2)).sum(axis=0)
    for start in range(chunk, n, chunk):
        stop = start + chunk
        total += np.matmul(dy4[start:stop], cols[start:stop].swapaxes(-1, -2)).sum(axis=0)
    return total


def conv2d_columns(
    x: np.ndarray,
    kernel: Any,
    *,
    stride: Any,
    pads: Any,
    dilation: Any,
    groups: int,
    workspace: dict | None = None,
) -> np.ndarray:
    """The im2col columns of ``x`` [N, C, H, W] as ``[N, G, C/G * KH * KW, OH * OW]``; with a
    workspace they live in a buffer reused by the next call of the same size."""
    n, channels, height, width = x.shape
    kh, kw = kernel
    (top, bottom), (left, right) = pads
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    out_h = (height + top + bottom - span_h) // stride[0] + 1
    out_w = (width + left + right - span_w) // stride[1] + 1
    k = channels // groups * kh * kw
    if (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and not any(pads[0] + pads[1]):
        # A 1x1, stride 1, unpadded convolution is a matmul over channels: no columns.
        return x.reshape(n, groups, k, out_h * out_w)
    windows = sliding_window_view(_pad(x, pads, 0.0, workspace), (span_h, span_w), (2, 3))
    windows = windows[:, :, :: stride[0], :: stride[1], :: dilation[0], :: dilation[1]]
    shape = (n, channels, kh, kw, out_h, out_w)
    buf = None if workspace is None else workspace.get("cols")
    if buf is None or buf.shape != shape or buf.dtype != x.dtype:
        buf = np.empty(shape, dtype=x.dtype)
        if workspace is not None:
            workspace["cols"] = buf
    np.copyto(buf, windows.transpose(0, 1, 4, 5, 2, 3))
    return buf.reshape(n, groups, k, out_h * out_w)


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: Any,
    pads: Any,
    dilation: Any,
    groups: int,
    workspace: dict | None = None,
) -> tuple[np.ndarray, Any]:
    """Grouped, strided, dilated cross-correlation (as PyTorch) through im2col.

    Returns (y, (columns, input shape)); with a workspace the columns live in a buffer
    reused by the next call of the same size.
    """
    n, _, height, width = x.shape
    filters, _, kh, kw = weight.shape
    cols = conv2d_columns(
        x,
        (kh, kw),
        stride=stride,
        pads=pads,
        dilation=dilation,
        groups=groups,
        workspace=workspace,
    )
    (top, bottom), (left, right) = pads
    out_h = (height + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (width + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.matmul(weight.reshape(groups, filters // groups, weight[0].size), cols)
    y = y.reshape(n, filters, out_h, out_w)
    if bias is not None:
        y += bias[:, None, None]
    return y, (cols, x.shape[1:])


def conv2d_backward(
    dy: np.ndarray,
    cache: Any,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: Any,
    pads: Any,
    dilation: Any,
    groups: int,
    need_dx: bool = True,
) -> tuple:
    """(dx, dweight[, dbias]); dx is the transposed convolution (col2im), None unless
    ``need_dx``."""
    cols, in_shape = cache
    n, filters, out_h, out_w = dy.shape
    dy4 = dy.reshape(n, groups, filters // groups, out_h * out_w)
    dweight = _weight_grad(dy4, cols).reshape(weight.shape)
    dparams = (dweight,) if bias is None else (dweight, dy.sum(axis=(0, 2, 3)))
    if not need_dx:
        return (None, *dparams)
    dx = conv2d_input_grad(
        dy, weight, in_shape, stride=stride, pads=pads, dilation=dilation, groups=groups
    )
    return (dx, *dparams)


def conv2d_input_grad(
    dy: np.ndarray,
    weight: np.ndarray,
    in_shape: Any,
    *,
    stride: Any,
    pads: Any,
    dilation: Any,
    groups: int,
) -> np.ndarray:
    """The gradient of a convolution's input [C, H, W] = ``in_shape`` from that of its
    output ``dy``: the transposed convolution, a matmul to columns and col2im. Cells no
    window reaches (below or right of the last one) get zero."""
    n, filters, out_h, out_w = dy.shape
    _, _, kh, kw = weight.shape
    k = weight[0].size
    dy4 = dy.reshape(n, groups, filters // groups, out_h * out_w)
    dcols = np.matmul(weight.reshape(groups, filters // groups, k).swapaxes(-1, -2), dy4)
    one_by_one = (kh, kw) == (1, 1) and tuple(stride) == (1, 1) and not any(pads[0] + pads[1])
    if one_by_one and (out_h, out_w) == tuple(in_shape[1:]):
        return dcols.reshape(n, *in_shape)
    dcols6 = dcols.reshape(n, in_shape[0], kh, kw, out_h, out_w)
    dxp = _padded_zeros(in_shape, n, pads, dy.dtype)
    for i in range(kh):
        for j in range(kw):
            dxp[_offset(i, j, stride, dilation, out_h, out_w)] += dcols6[:, :, i, j]
    return _unpad(dxp, in_shape, pads)


def maxpool(
    x: np.ndarray, *, kernel: Any, stride: Any, pads: Any, workspace: dict | None = None
) -> tuple[np.ndarray, Any]:
    """Max pooling over the -inf padded input; returns (y, (index of each window's max,
    input shape)).

    Branch-free passes over whole strided views (np.where is several times slower on
    random masks). The index moves only on a strictly greater value, so ties go to the
    first maximum in row-major window order; a window holding NaN outputs NaN and points
    at its last NaN (PyTorch's CPU kernel).
    """
    xp = _pad(x, pads, -np.inf, workspace)
    out_h = (xp.shape[2] - kernel[0]) // stride[0] + 1
    out_w = (xp.shape[3] - kernel[1]) // stride[1] + 1
    offsets = [
        _offset(i, j, stride, (1, 1), out_h, out_w)
        for i in range(kernel[0])
        for j in range(kernel[1])
    ]
    best = xp[offsets[0]].copy()
    arg = np.zeros(best.shape, dtype=np.int16)
    for k, offset in enumerate(offsets[1:], start=1):
        v = xp[offset]
        greater = v > best
        np.maximum(best, v, out=best)  # NaN propagates
        arg += greater * (k - arg)
    if np.isnan(best).any():
        for k, offset in enumerate(offsets):
            arg[np.isnan(xp[offset])] = k
    return best, (arg, x.shape[1:])


def maxpool_backward(
    dy: np.ndarray, cache: Any, *, kernel: Any, stride: Any, pads: Any
) -> np.ndarray:
    """Each window's gradient goes to the cell its index points at; overlaps add."""
    arg, in_shape = cache
    n, _, out_h, out_w = dy.shape
    dxp = _padded_zeros(in_shape, n, pads, dy.dtype)
    # Disjoint windows let each offset's share be written without adding.
    disjoint = stride[0] >= kernel[0] and stride[1] >= kernel[1]
    for k in range(kernel[0] * kernel[1]):
        offset = _offset(*divmod(k, kernel[1]), stride, (1, 1), out_h, out_w)
        share = arg == k
        if disjoint:
            np.multiply(dy, share, out=dxp[offset])
        else:
            dxp[offset] += dy * share
    return _unpad(dxp, in_shape, pads)


def avgpool(
    x: np.ndarray, *, kernel: Any, stride: Any, pads: Any, workspace: dict | None = None
) -> tuple[np.ndarray, Any]:
    """Average pooling with zero padding; the divisor is always KH * KW (padded cells
    count, PyTorch's count_include_pad=True). Returns (y, input shape)."""
    xp = _pad(x, pads, 0.0, workspace)
    out_h = (xp.shape[2] - kernel[0]) // stride[0] + 1
    out_w = (xp.shape[3] - kernel[1]) // stride[1] + 1
    total = xp[_offset(0, 0, stride, (1, 1), out_h, out_w)].copy()
    for k in range(1, kernel[0] * kernel[1]):
        total += xp[_offset(*divmod(k, kernel[1]), stride, (1, 1), out_h, out_w)]
    total *= 1.0 / (kernel[0] * kernel[1])
    return total, x.shape[1:]


def avgpool_backward(
    dy: np.ndarray, cache: Any, *, kernel: Any, stride: Any, pads: Any
) -> np.ndarray:
    """Each window adds dy / (KH * KW) to each of its cells; padding's share is dropped."""
    in_shape = cache
    n, _, out_h, out_w = dy.shape
    share = dy * (1.0 / (kernel[0] * kernel[1]))
    dxp = _padded_zeros(in_shape, n, pads, dy.dtype)
    for k in range(kernel[0] * kernel[1]):
        dxp[_offset(*divmod(k, kernel[1]), stride, (1, 1), out_h, out_w)] += share
    return _unpad(dxp, in_shape, pads)


def global_avgpool(x: np.ndarray, *, shape: tuple) -> tuple[np.ndarray, Any]:
    """The mean over every axis after the channels (H and W of an image, L of a sequence),
    in the per-sample output ``shape`` the checker gave it."""
    return x.mean(axis=tuple(range(2, x.ndim))).reshape(x.shape[0], *shape), x.shape[1:]


def global_avgpool_backward(dy: np.ndarray, cache: Any) -> np.ndarray:
    """dy / (H * W), or dy / L, broadcast over the axes the mean reduced."""
    channels, *rest = cache
    share = dy.reshape(-1, channels, *(1 for _ in rest)) * (1.0 / int(np.prod(rest)))
    return np.broadcast_to(share, (dy.shape[0], channels, *rest)).copy()
