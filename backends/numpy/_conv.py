"""conv2d through im2col / col2im, and max / average pooling, forward and backward.

Layout NCHW. The column matrix of a batch is ``[N, C, KH, KW, OH, OW]``: channels come
first, so that grouping is a reshape to ``[N, G, C/G * KH * KW, OH * OW]`` and one
broadcast ``matmul`` with the weight ``[G, F/G, C/G * KH * KW]`` gives the output
directly in NCHW, with no transpose. Columns are gathered in one copy from a strided
window view (``sliding_window_view``); col2im and pooling loop over the KH * KW kernel
offsets only, each step a vectorised strided slice over the whole batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from netspec.backends.numpy._kernel import Context, Kernel, Params
from netspec.ir import CheckedNode, explicit_pads
from netspec.ir.ops import AvgPool, Conv2d, MaxPool


class _Window:
    """The geometry of a 2-D sliding window: kernel, stride, dilation, explicit pads."""

    def __init__(
        self,
        in_shape: tuple[int, ...],
        kernel: tuple[int, int],
        stride: tuple[int, int],
        dilation: tuple[int, int],
        padding: object,
    ) -> None:
        self.channels, self.height, self.width = in_shape
        self.kh, self.kw = kernel
        self.sh, self.sw = stride
        self.dh, self.dw = dilation
        (self.top, self.bottom), (self.left, self.right) = explicit_pads(padding)
        self.padded_h = self.height + self.top + self.bottom
        self.padded_w = self.width + self.left + self.right
        span_h = self.dh * (self.kh - 1) + 1
        span_w = self.dw * (self.kw - 1) + 1
        self.out_h = (self.padded_h - span_h) // self.sh + 1
        self.out_w = (self.padded_w - span_w) // self.sw + 1
        self.padded = any((self.top, self.bottom, self.left, self.right))
        # Reused padded-input buffers, one per (batch size, fill): only the interior is
        # rewritten each call, so the border keeps its fill.
        self._pad_buffers: dict[tuple[int, float], np.ndarray] = {}

    def offset(self, i: int, j: int) -> tuple[slice, slice]:
        """The strided slices of the padded input that kernel offset (i, j) reads."""
        h0, w0 = i * self.dh, j * self.dw
        return (
            slice(h0, h0 + self.sh * (self.out_h - 1) + 1, self.sh),
            slice(w0, w0 + self.sw * (self.out_w - 1) + 1, self.sw),
        )

    def pad(self, x: np.ndarray, fill: float) -> np.ndarray:
        """``x`` padded with ``fill``, in a buffer reused between calls of the same size."""
        if not self.padded:
            return x
        key = (x.shape[0], fill)
        buf = self._pad_buffers.get(key)
        if buf is None or buf.dtype != x.dtype:
            buf = np.full(
                (x.shape[0], x.shape[1], self.padded_h, self.padded_w), fill, dtype=x.dtype
            )
            self._pad_buffers = {key: buf}
        buf[:, :, self.top : self.top + self.height, self.left : self.left + self.width] = x
        return buf

    def unpad(self, dxp: np.ndarray) -> np.ndarray:
        """The gradient of the unpadded input, given the gradient of the padded one."""
        if not self.padded:
            return dxp
        return dxp[:, :, self.top : self.top + self.height, self.left : self.left + self.width]

    def windows(self, xp: np.ndarray) -> np.ndarray:
        """A strided view ``[N, C, OH, OW, KH, KW]`` of every window of ``xp``; no copy."""
        span = (self.dh * (self.kh - 1) + 1, self.dw * (self.kw - 1) + 1)
        view = sliding_window_view(xp, span, axis=(2, 3))
        return view[:, :, :: self.sh, :: self.sw, :: self.dh, :: self.dw]


# Bytes of per-sample weight gradients held at once before they are summed.
_WEIGHT_GRAD_BUDGET = 32 * 2**20


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


class Conv2dKernel(Kernel):
    """Grouped, strided, dilated 2-D convolution (cross-correlation, as PyTorch)."""

    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        op = node.op
        assert isinstance(op, Conv2d)
        self.op = op
        self.win = _Window(in_shapes[0], op.kernel, op.stride, op.dilation, op.padding)
        self.groups = op.groups
        self.filters = op.filters
        self.k = (self.win.channels // op.groups) * op.kernel[0] * op.kernel[1]
        # A 1x1, stride 1, unpadded convolution is a matmul over channels: no columns.
        self.pointwise = op.kernel == (1, 1) and op.stride == (1, 1) and not self.win.padded
        self._cols: np.ndarray | None = None

    def _columns(self, x: np.ndarray) -> np.ndarray:
        win = self.win
        n = x.shape[0]
        if self.pointwise:
            return x.reshape(n, self.groups, self.k, win.out_h * win.out_w)
        shape = (n, win.channels, win.kh, win.kw, win.out_h, win.out_w)
        if self._cols is None or self._cols.shape != shape or self._cols.dtype != x.dtype:
            self._cols = np.empty(shape, dtype=x.dtype)
        np.copyto(self._cols, win.windows(win.pad(x, 0.0)).transpose(0, 1, 4, 5, 2, 3))
        return self._cols.reshape(n, self.groups, self.k, win.out_h * win.out_w)

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        x = xs[0]
        n = x.shape[0]
        cols = self._columns(x)
        w = params[self.names["weight"]].reshape(self.groups, self.filters // self.groups, self.k)
        out = np.matmul(w, cols).reshape(n, self.filters, self.win.out_h, self.win.out_w)
        if "bias" in self.names:
            out += params[self.names["bias"]][:, None, None]
        return out, cols

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        cols: np.ndarray = cache
        win = self.win
        n = dy.shape[0]
        weight = params[self.names["weight"]]
        dy4 = dy.reshape(n, self.groups, self.filters // self.groups, win.out_h * win.out_w)
        grads[self.names["weight"]] = _weight_grad(dy4, cols).reshape(weight.shape)
        if "bias" in self.names:
            grads[self.names["bias"]] = dy.sum(axis=(0, 2, 3))
        if not need[0]:
            return [None]
        w = weight.reshape(self.groups, self.filters // self.groups, self.k)
        dcols = np.matmul(w.swapaxes(-1, -2), dy4)
        if self.pointwise:
            return [dcols.reshape(n, win.channels, win.height, win.width)]
        dcols6 = dcols.reshape(n, win.channels, win.kh, win.kw, win.out_h, win.out_w)
        dxp = np.zeros((n, win.channels, win.padded_h, win.padded_w), dtype=dy.dtype)
        for i in range(win.kh):
            for j in range(win.kw):
                rows, columns = win.offset(i, j)
                dxp[:, :, rows, columns] += dcols6[:, :, i, j]
        return [win.unpad(dxp)]


class MaxPoolKernel(Kernel):
    """Max pooling with -inf padding. The gradient of each window goes to its first
    maximum in row-major window order, as PyTorch's CPU kernel; a window holding NaN
    outputs NaN and sends its gradient to its last NaN, as PyTorch's kernel does."""

    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        op = node.op
        assert isinstance(op, MaxPool)
        self.win = _Window(in_shapes[0], op.kernel, op.stride, (1, 1), op.padding)
        self.offsets = [
            (slice(None), slice(None), *self.win.offset(i, j))
            for i in range(op.kernel[0])
            for j in range(op.kernel[1])
        ]
        # Disjoint windows let the backward write each offset's share without adding.
        self.disjoint = op.stride[0] >= op.kernel[0] and op.stride[1] >= op.kernel[1]

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        # Branch-free passes over whole strided views; np.where / where= are several
        # times slower on random masks. `arg` moves only on a strictly greater value.
        xp = self.win.pad(xs[0], -np.inf)
        best = xp[self.offsets[0]].copy()
        arg = np.zeros(best.shape, dtype=np.int16)
        for k, offset in enumerate(self.offsets[1:], start=1):
            v = xp[offset]
            greater = v > best
            np.maximum(best, v, out=best)  # NaN propagates, as in PyTorch
            arg += greater * (k - arg)
        if np.isnan(best).any():
            for k, offset in enumerate(self.offsets):
                nan = np.isnan(xp[offset])
                arg[nan] = k
        return best, arg

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        if not need[0]:
            return [None]
        arg: np.ndarray = cache
        win = self.win
        dxp = np.zeros((dy.shape[0], win.channels, win.padded_h, win.padded_w), dtype=dy.dtype)
        for k, offset in enumerate(self.offsets):
            share = arg == k
            if self.disjoint:
                np.multiply(dy, share, out=dxp[offset])
            else:
                dxp[offset] += dy * share
        return [win.unpad(dxp)]


class AvgPoolKernel(Kernel):
    """Average pooling; the divisor is always KH * KW (padded zeros count, as PyTorch's
    ``count_include_pad=True``)."""

    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        op = node.op
        assert isinstance(op, AvgPool)
        self.win = _Window(in_shapes[0], op.kernel, op.stride, (1, 1), op.padding)
        self.scale = 1.0 / (op.kernel[0] * op.kernel[1])

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        win = self.win
        xp = win.pad(xs[0], 0.0)
        total = xp[(slice(None), slice(None), *win.offset(0, 0))].copy()
        for k in range(1, win.kh * win.kw):
            total += xp[(slice(None), slice(None), *win.offset(*divmod(k, win.kw)))]
        total *= self.scale
        return total, None

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        if not need[0]:
            return [None]
        win = self.win
        share = dy * self.scale
        dxp = np.zeros((dy.shape[0], win.channels, win.padded_h, win.padded_w), dtype=dy.dtype)
        for k in range(win.kh * win.kw):
            dxp[(slice(None), slice(None), *win.offset(*divmod(k, win.kw)))] += share
        return [win.unpad(dxp)]


class GlobalAvgPoolKernel(Kernel):
    """Mean over H and W; the output takes the per-sample shape the checker gave it."""

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        x = xs[0]
        return x.mean(axis=(2, 3)).reshape(x.shape[0], *self.out_shape), None

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        if not need[0]:
            return [None]
        c, h, w = self.in_shapes[0]
        n = dy.shape[0]
        share = dy.reshape(n, c, 1, 1) * (1.0 / (h * w))
        return [np.broadcast_to(share, (n, c, h, w)).copy()]
