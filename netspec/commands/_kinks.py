"""The piecewise decisions a model takes on a batch, for finding kinks.

A central difference ``(L(w + h) - L(w - h)) / 2h`` is the derivative only where the loss
is smooth between ``w - h`` and ``w + h``. A ReLU whose input crosses 0, a max-pool
window whose maximum moves to another cell, an l1 loss whose output crosses its target:
each switches the function's piece, and the difference then averages two slopes, which
the analytic gradient (one side's slope, by PyTorch's conventions) need not equal. Such a
coordinate is a kink, not a failure.

:func:`decisions` reads every piecewise decision off a model's node outputs (the
``trace`` every backend gives, so it works the same on every backend): the side of each
breakpoint the input of a piecewise activation lies on, and the cell each max-pool window
takes. Two sets of decisions that differ mean the perturbation crossed a kink.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from netspec.ir import CheckedModel
from netspec.ir.train import LossSpec

# Where each piecewise activation's derivative jumps (docs/semantics.md).
BREAKPOINTS: dict[str, tuple[float, ...]] = {
    "relu": (0.0,),
    "leaky_relu": (0.0,),
    "prelu": (0.0,),
    "elu": (0.0,),
    "selu": (0.0,),
    "step": (0.0,),
    "relu6": (0.0, 6.0),
    "hard_sigmoid": (-3.0, 3.0),
    "hard_swish": (-3.0, 3.0),
}
MAX_POOLS = ("maxpool", "maxpool1d")
# Losses with a kink where the output meets its target.
KINKED_LOSSES = ("l1",)


def has_decisions(model: CheckedModel, loss: LossSpec) -> bool:
    """Whether the model (with this loss) takes any piecewise decision at all."""
    kinds = {node.op.kind for node in model.nodes}
    return bool(kinds & (set(BREAKPOINTS) | set(MAX_POOLS))) or loss.kind in KINKED_LOSSES


def decisions(
    model: CheckedModel, values: Mapping[str, np.ndarray], y: np.ndarray, loss: LossSpec
) -> dict[str, np.ndarray]:
    """Each piecewise node's decisions on a batch, by node name (``values``: every node's
    output and every input, by name); ``loss`` for an l1 loss's side of each target."""
    found: dict[str, np.ndarray] = {}
    for node in model.nodes:
        kind = node.op.kind
        if kind in BREAKPOINTS:
            x = np.asarray(values[node.inputs[0]])
            found[node.name] = np.stack([np.sign(x - point) for point in BREAKPOINTS[kind]])
        elif kind in MAX_POOLS:
            found[node.name] = _argmax_cells(np.asarray(values[node.inputs[0]]), node.op)
    if loss.kind in KINKED_LOSSES:
        output = np.asarray(values[model.output])
        found["loss"] = np.sign(output - np.asarray(y).reshape(output.shape))
    return found


def flipped(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]) -> list[str]:
    """The names whose decisions differ between two sets of :func:`decisions`."""
    return [name for name in before if not np.array_equal(before[name], after[name])]


def _argmax_cells(x: np.ndarray, op: object) -> np.ndarray:
    """The cell of each max-pool window that holds its maximum (first in row-major order
    on a tie), over the input padded with -inf as the pool pads it."""
    kernel, stride, pads = op.kernel, op.stride, op.padding  # type: ignore[attr-defined]
    if isinstance(kernel, int):  # maxpool1d over [N, C, L]
        kernel, stride, pads = (kernel,), (stride,), (tuple(pads),)
    width = [(0, 0), (0, 0), *[tuple(p) for p in pads]]
    padded = np.pad(x, width, constant_values=-np.inf)
    axes = tuple(range(2, padded.ndim))
    windows = sliding_window_view(padded, tuple(kernel), axis=axes)
    for axis, step in zip(axes, stride, strict=True):
        windows = np.take(windows, np.arange(0, windows.shape[axis], step), axis=axis)
    # Only whole windows: the pool's output size.
    flat = windows.reshape(*windows.shape[: padded.ndim], -1)
    return np.argmax(flat, axis=-1)
