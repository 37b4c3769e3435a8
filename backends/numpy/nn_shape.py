"""The axis-moving ops of the IR in NumPy, forward and backward: ``permute``, ``transpose``
and ``slice``, with their lowering entries.

Part of :mod:`netspec.backends.numpy.nn` (whose calling convention they follow and whose
``LOWERINGS`` takes :data:`SHAPE_OPS` in). The static arguments are axes of the batched
tensor (the checked per-sample axis plus one), so the batch axis never moves. Like every
backend function they are copied as they are into generated NumPy modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netspec.ir import CheckedNode
from netspec.lowering import Lowering


def permute(x: np.ndarray, *, axes: tuple) -> tuple[np.ndarray, Any]:
    """Output axis i is input axis ``axes[i]`` (``axes[0]`` is the batch axis, 0)."""
    return np.transpose(x, axes), None


def permute_backward(dy: np.ndarray, cache: Any, *, axes: tuple) -> np.ndarray:
    # The inverse permutation puts every axis back where it came from.
    return np.transpose(dy, np.argsort(axes))


def transpose(x: np.ndarray, *, axis0: int, axis1: int) -> tuple[np.ndarray, Any]:
    """Swap two axes (torch.transpose)."""
    return np.swapaxes(x, axis0, axis1), None


def transpose_backward(dy: np.ndarray, cache: Any, *, axis0: int, axis1: int) -> np.ndarray:
    return np.swapaxes(dy, axis0, axis1)


def slice_axis(
    x: np.ndarray, *, axis: int, start: int, stop: int, step: int
) -> tuple[np.ndarray, Any]:
    """``x[start:stop:step]`` along ``axis``, with the checker's resolved bounds."""
    index = (slice(None),) * axis + (slice(start, stop, step),)
    return x[index], x.shape


def slice_axis_backward(
    dy: np.ndarray, in_shape: tuple, *, axis: int, start: int, stop: int, step: int
) -> np.ndarray:
    # The cells the slice skipped had no effect on the output: their gradient is zero.
    dx = np.zeros(in_shape, dtype=dy.dtype)
    dx[(slice(None),) * axis + (slice(start, stop, step),)] = dy
    return dx


# -- the table --------------------------------------------------------------------------------


def _permute(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {"axes": (0, *(a + 1 for a in op.axes))}


def _transpose(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {"axis0": op.axis0 + 1, "axis1": op.axis1 + 1}


def _slice(node: CheckedNode) -> dict[str, Any]:
    op: Any = node.op
    return {"axis": op.axis + 1, "start": op.start, "stop": op.stop, "step": op.step}


SHAPE_OPS: dict[str, Lowering] = {
    "permute": Lowering(fn=permute, static=_permute, backward=permute_backward),
    "transpose": Lowering(fn=transpose, static=_transpose, backward=transpose_backward),
    "slice": Lowering(fn=slice_axis, static=_slice, backward=slice_axis_backward),
}
