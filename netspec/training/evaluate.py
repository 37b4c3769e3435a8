"""Loss and accuracy of a compiled model on a data split, in evaluation mode."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netspec._contract import check_targets
from netspec.backend import CompiledModel
from netspec.backends.numpy import hits, loss_and_grad
from netspec.data import Split
from netspec.ir.train import LossSpec

CLASSIFICATION = frozenset({"softmax_cross_entropy", "binary_cross_entropy"})


@dataclass(frozen=True)
class Metrics:
    loss: float
    accuracy: float | None  # None for regression losses
    samples: int

    def as_dict(self, prefix: str) -> dict[str, float | None]:
        return {f"{prefix}_loss": self.loss, f"{prefix}_accuracy": self.accuracy}


def evaluate(
    model: CompiledModel, split: Split, loss: LossSpec, *, batch_size: int = 1000
) -> Metrics:
    """Mean data loss (no penalties) and top-1 accuracy over ``split``, batch by batch.

    Losses are computed in float64 by the reference (NumPy) implementation from each
    backend's outputs, so the figures are comparable across backends.
    """
    total, correct, count = 0.0, 0, len(split)
    for start in range(0, count, batch_size):
        x = split.x[start : start + batch_size]
        y = split.y[start : start + batch_size]
        out = np.asarray(model.forward(x, train=False), dtype=np.float64)
        y = check_targets(model.ir, y, loss, len(x), np.float64)
        value, _ = loss_and_grad(out, y, loss)
        total += value * len(x)
        correct += hits(out, y, loss)
    accuracy = correct / count if loss.kind in CLASSIFICATION and count else None
    return Metrics(loss=total / count if count else float("nan"), accuracy=accuracy, samples=count)
