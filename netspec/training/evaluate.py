"""Loss, accuracy and the asked-for metrics of a compiled model on a data split, in
evaluation mode."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from netspec._contract import check_targets
from netspec.backend import CompiledModel
from netspec.backends.numpy import hits, loss_and_grad
from netspec.data import Split
from netspec.ir.train import LossSpec, Metric
from netspec.training.distributed import SINGLE, World, share
from netspec.training.metrics import MetricSums, label_positions

CLASSIFICATION = frozenset({"softmax_cross_entropy", "binary_cross_entropy"})


@dataclass(frozen=True)
class Metrics:
    loss: float
    accuracy: float | None  # None for regression losses
    samples: int
    # The train section's other metrics by name (mae, top_5_accuracy, ...).
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self, prefix: str) -> dict[str, float | None]:
        row: dict[str, float | None] = {
            f"{prefix}_loss": self.loss,
            f"{prefix}_accuracy": self.accuracy,
        }
        row.update({f"{prefix}_{name}": value for name, value in self.extra.items()})
        return row


def evaluate(
    model: CompiledModel,
    split: Split,
    loss: LossSpec,
    *,
    batch_size: int = 1000,
    metrics: Iterable[Metric] = (),
    world: World = SINGLE,
) -> Metrics:
    """Mean data loss (no penalties), top-1 accuracy (per label: per step of a sequence
    output) and ``metrics`` (mae, top_k_accuracy, perplexity; see
    netspec.training.metrics) over ``split``, batch by batch.

    Everything is computed in float64 from each backend's outputs, by the reference
    (NumPy) loss code and netspec.training.metrics, so the figures are comparable across
    backends.

    In a data-parallel run (``world`` of several processes) each rank evaluates its
    :func:`~netspec.training.distributed.share` of the split and the sums are added over
    ranks, so every sample counts once and every rank gets the figures of the whole split.
    """
    total, correct, count = 0.0, 0, len(split)
    sums = MetricSums(metrics)
    part = share(count, world.rank, world.size)
    for start in range(part.start, part.stop, batch_size):
        x, y = split.rows(slice(start, min(start + batch_size, part.stop)))
        out = np.asarray(model.forward(x, train=False), dtype=np.float64)
        y = check_targets(model.ir, y, loss, len(out), np.float64)
        value, _ = loss_and_grad(out, y, loss)
        total += value * len(out)
        correct += hits(out, y, loss)
        sums.add(out, y)
    if world.size > 1:
        names = list(sums.sums)
        local = [total, correct, sums.samples, sums.values, sums.labels]
        added = world.sum([*local, *(sums.sums[name] for name in names)])
        total, correct = added[0], round(added[1])
        sums.samples, sums.values, sums.labels = (round(v) for v in added[2:5])
        sums.sums = dict(zip(names, added[5:], strict=True))
    # Top-1 accuracy per label: per step of a sequence output [T, V].
    positions = label_positions(loss.kind, tuple(model.ir.output_type.shape))
    accuracy = correct / (count * positions) if loss.kind in CLASSIFICATION and count else None
    return Metrics(
        loss=total / count if count else float("nan"),
        accuracy=accuracy,
        samples=count,
        extra=sums.result(),
    )
