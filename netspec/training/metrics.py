"""The metrics a train section asks for beyond its loss: mae, perplexity and
top_k_accuracy.

They are computed here, in float64 from each backend's outputs on an evaluated split,
so that every backend reports the same figures (as evaluation's loss is).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from netspec.errors import NetspecError
from netspec.ir.train import Metric, TopKAccuracy

REGRESSION = frozenset({"mse", "half_sse", "l1"})
# The loss's own figures, reported whatever the metrics say.
OWN = ("loss", "accuracy")


def metric_name(metric: Metric) -> str:
    """The metric's key in a row of metrics.jsonl, after the split's prefix: ``mae``,
    ``top_5_accuracy``."""
    if isinstance(metric, TopKAccuracy):
        return f"top_{metric.k}_accuracy"
    return metric


def label_positions(loss_kind: str, output_shape: tuple[int, ...]) -> int:
    """Labels per sample: softmax_cross_entropy reads classes on the output's last axis
    and has one label per position of the others (per step of [T, V]); 1 otherwise."""
    if loss_kind != "softmax_cross_entropy":
        return 1
    return math.prod(output_shape[:-1])


def extra_metrics(metrics: Iterable[Metric]) -> tuple[Metric, ...]:
    """The metrics computed from outputs: all but the loss's own loss and accuracy."""
    return tuple(m for m in metrics if isinstance(m, TopKAccuracy) or m not in OWN)


def check_metrics(metrics: Iterable[Metric], loss_kind: str, output_shape: tuple[int, ...]) -> None:
    """Refuse a metric that the loss and the output cannot measure (``netspec check``
    reports the same at the spec's metrics line)."""
    for metric in extra_metrics(metrics):
        if isinstance(metric, TopKAccuracy):
            if loss_kind != "softmax_cross_entropy":
                raise NetspecError(
                    f"top_k_accuracy({metric.k}) needs softmax_cross_entropy (one score per "
                    f"class), but the loss is {loss_kind}"
                )
            if metric.k < 1 or len(output_shape) != 1 or metric.k > output_shape[0]:
                raise NetspecError(
                    f"top_k_accuracy({metric.k}) needs 1 <= k <= the number of classes, "
                    f"but the model's output is {list(output_shape)}"
                )
        elif metric == "perplexity":
            if loss_kind != "softmax_cross_entropy":
                raise NetspecError(
                    f"perplexity is exp of the mean cross-entropy per label and needs "
                    f"softmax_cross_entropy, but the loss is {loss_kind}"
                )
        elif loss_kind not in REGRESSION:
            raise NetspecError(
                f"mae measures the outputs of a regression loss (mse, half_sse, l1), but the "
                f"loss is {loss_kind}, whose outputs are logits"
            )


def absolute_error_sum(out: np.ndarray, targets: np.ndarray) -> float:
    """The sum of |output - target| over every value of a batch (targets in the output's
    shape, as the contract gives them)."""
    diff = out.astype(np.float64) - targets.reshape(out.shape).astype(np.float64)
    return float(np.abs(diff).sum())


def label_log_likelihood(out: np.ndarray, targets: np.ndarray) -> tuple[float, int]:
    """The summed log-probability of the labels under softmax over the last axis of the
    outputs, and how many labels there are. Targets are class indices [N, ...] (one per
    position) or probability rows [N, ..., K] (their expected log-probability)."""
    scores = out.astype(np.float64).reshape(-1, out.shape[-1])
    top = scores.max(axis=1, keepdims=True)
    logp = scores - top - np.log(np.exp(scores - top).sum(axis=1, keepdims=True))
    if targets.ndim == out.ndim - 1:
        labels = targets.reshape(-1).astype(np.int64)
        return float(logp[np.arange(len(labels)), labels].sum()), len(labels)
    weights = targets.astype(np.float64).reshape(scores.shape)
    return float((weights * logp).sum()), len(scores)


def top_k_hits(out: np.ndarray, targets: np.ndarray, k: int) -> int:
    """Samples whose label is among the ``k`` largest of the outputs [N, K]: fewer than k
    outputs are strictly greater than the label's (a tie counts for the label). Targets
    are class indices [N] or one-hot / probability rows [N, K] (their largest entry)."""
    labels = targets if targets.ndim == 1 else np.argmax(targets, axis=1)
    scores = out.astype(np.float64)
    own = scores[np.arange(len(scores)), labels.astype(np.int64)]
    above = (scores > own[:, None]).sum(axis=1)
    return int((above < k).sum())


class MetricSums:
    """Running sums of the extra metrics over the batches of one split."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self.metrics = extra_metrics(metrics)
        self.sums = dict.fromkeys((metric_name(m) for m in self.metrics), 0.0)
        self.samples = 0
        self.values = 0
        self.labels = 0

    def add(self, out: np.ndarray, targets: np.ndarray) -> None:
        """Add one batch: the outputs and the targets the loss took."""
        self.samples += len(out)
        self.values += out.size
        for metric in self.metrics:
            name = metric_name(metric)
            if isinstance(metric, TopKAccuracy):
                self.sums[name] += top_k_hits(out, targets, metric.k)
            elif metric == "perplexity":
                total, labels = label_log_likelihood(out, targets)
                self.sums[name] -= total
                self.labels += labels
            else:
                self.sums[name] += absolute_error_sum(out, targets)

    def result(self) -> dict[str, float]:
        """mae: the mean over every output value; top-k accuracy: the share of samples;
        perplexity: exp of the mean cross-entropy per label (per token)."""
        result: dict[str, float] = {}
        for metric in self.metrics:
            name = metric_name(metric)
            if metric == "perplexity":
                mean = self.sums[name] / self.labels if self.labels else float("nan")
                result[name] = math.exp(mean) if mean < 700 else float("inf")
                continue
            count = self.samples if isinstance(metric, TopKAccuracy) else self.values
            result[name] = self.sums[name] / count if count else float("nan")
        return result


def describe(values: dict[str, float | None], prefix: str, *, short: bool = False) -> str:
    """The extra metrics of a split for the console: ``, mae 0.1234, top-5 accuracy
    97.50%`` (``short``: `` mae 0.1234 top5 97.50%``, for the per-epoch line)."""
    parts = []
    for key, value in values.items():
        if not key.startswith(f"{prefix}_") or value is None:
            continue
        name = key[len(prefix) + 1 :]
        # val_ema_* are the averaged weights' figures, shown as a split of their own.
        if name in OWN or name.startswith("ema_"):
            continue
        if name.startswith("top_") and name.endswith("_accuracy"):
            k = name[len("top_") : -len("_accuracy")]
            label = f"top{k}" if short else f"top-{k} accuracy"
            parts.append(f"{label} {value * 100:.2f}%")
        else:
            parts.append(f"{name} {value:.4f}")
    if not parts:
        return ""
    return (" " + " ".join(parts)) if short else (", " + ", ".join(parts))
