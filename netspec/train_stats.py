"""The statistics a training step accumulates between host synchronisations."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """Concrete :class:`netspec.backend.StepStats`, returned by every backend's drain()."""

    loss_sum: float
    samples: int
    correct: int
    first_nonfinite: int = -1

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.samples if self.samples else float("nan")

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples if self.samples else float("nan")
