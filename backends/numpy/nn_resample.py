"""The resampling ops of the IR in NumPy, forward and backward: ``adaptive_avgpool`` and
``upsample``, with their lowering entries.

Part of :mod:`netspec.backends.numpy.nn` (whose calling convention they follow and whose
``LOWERINGS`` takes :data:`RESAMPLE_OPS` in). Both ops are separable linear maps of an
image: output = Wh @ x @ Ww^T per channel, with one weight matrix per spatial axis, so
the backward pass is Wh^T @ dy @ Ww. The matrices hold PyTorch's formulas:

- adaptive average pooling: output cell i of an axis of size n averages the input cells
  floor(i n / out) up to ceil((i + 1) n / out) (torch.nn.AdaptiveAvgPool2d); the product
  of the two axes' weights is one over the window's area;
- nearest upsampling (PyTorch's legacy ``nearest``): output cell i copies input cell
  floor(i / scale), which is exact for an integer scale;
- bilinear upsampling: source position (i + 0.5) / scale - 0.5 clamped at 0, or
  i (n - 1) / (out - 1) with ``align_corners``; its two neighbours, the upper one
  clamped at n - 1, weighed by distance (torch's ``upsample_bilinear2d``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netspec.lowering import Lowering


def adaptive_weights(size: int, out: int, dtype: Any) -> np.ndarray:
    """The [out, size] matrix of PyTorch's adaptive average windows along one axis."""
    weights = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        lo = (i * size) // out
        hi = -(-((i + 1) * size) // out)
        weights[i, lo:hi] = 1.0 / (hi - lo)
    return weights


def upsample_weights(
    size: int, scale: int, mode: str, align_corners: bool, dtype: Any
) -> np.ndarray:
    """The [size * scale, size] matrix of PyTorch's upsampling along one axis."""
    out = size * scale
    weights = np.zeros((out, size), dtype=dtype)
    if mode == "nearest":
        weights[np.arange(out), np.arange(out) // scale] = 1.0
        return weights
    for i in range(out):
        if align_corners:
            src = i * ((size - 1) / (out - 1)) if out > 1 else 0.0
        else:
            # torch scales by 1 / scale_factor and clamps a negative source index to 0.
            src = max((1.0 / scale) * (i + 0.5) - 0.5, 0.0)
        lo = int(src)
        hi = lo + 1 if lo < size - 1 else lo
        frac = src - lo
        weights[i, lo] += 1.0 - frac
        weights[i, hi] += frac
    return weights


def separable(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """rows @ x @ cols^T over the last two axes of an [N, C, H, W] batch."""
    return np.matmul(np.matmul(rows, x), cols.T)


def adaptive_avgpool(x: np.ndarray, *, size: tuple) -> tuple[np.ndarray, Any]:
    rows = adaptive_weights(x.shape[2], size[0], x.dtype)
    cols = adaptive_weights(x.shape[3], size[1], x.dtype)
    return separable(x, rows, cols), (rows, cols)


def upsample(
    x: np.ndarray, *, scale: tuple, mode: str, align_corners: bool
) -> tuple[np.ndarray, Any]:
    rows = upsample_weights(x.shape[2], scale[0], mode, align_corners, x.dtype)
    cols = upsample_weights(x.shape[3], scale[1], mode, align_corners, x.dtype)
    return separable(x, rows, cols), (rows, cols)


def resample_backward(dy: np.ndarray, weights: Any) -> np.ndarray:
    """The gradient of rows @ x @ cols^T: rows^T @ dy @ cols."""
    rows, cols = weights
    return separable(dy, rows.T, cols.T)


# -- the table --------------------------------------------------------------------------------


def _fields(*names: str) -> Any:
    """``static`` reading the op fields ``names`` as they are."""
    return lambda node: {name: getattr(node.op, name) for name in names}


RESAMPLE_OPS: dict[str, Lowering] = {
    "adaptive_avgpool": Lowering(
        fn=adaptive_avgpool, static=_fields("size"), backward=resample_backward
    ),
    "upsample": Lowering(
        fn=upsample, static=_fields("scale", "mode", "align_corners"), backward=resample_backward
    ),
}
