"""The losses of ``netspec.ir.train``: value and gradient for the network's output.

Each returns ``(loss, dloss/doutput)``. Softmax cross-entropy and binary cross-entropy
work on logits and fuse their nonlinearity into the gradient: ``(p - t) / N`` rather
than a chain through softmax and log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from netspec.backends.numpy.nn import log_softmax_values, logistic
from netspec.errors import ShapeError
from netspec.ir.train import LossSpec, SoftmaxCrossEntropy

Result = tuple[float, np.ndarray]


def _softmax_cross_entropy(out: np.ndarray, y: np.ndarray, spec: SoftmaxCrossEntropy) -> Result:
    if out.ndim < 2:
        raise ShapeError(
            "softmax_cross_entropy needs an output of shape (N, ..., classes), "
            f"got {out.shape}; insert dense before the loss"
        )
    if out.ndim > 2:
        # One label per position (a time step of [N, T, V]): torch's cross_entropy on the
        # positions as rows, [N * T, V], so the mean is over steps and batch together.
        labels = y.reshape(-1) if y.ndim == out.ndim - 1 else y.reshape(-1, out.shape[-1])
        value, grad = _softmax_cross_entropy(out.reshape(-1, out.shape[-1]), labels, spec)
        return value, grad.reshape(out.shape)
    n = out.shape[0]
    weights = None
    if spec.class_weights is not None:
        weights = np.asarray(spec.class_weights, dtype=out.dtype)
    logp = log_softmax_values(out, axis=1)
    p = np.exp(logp)
    if y.ndim == 1:  # class indices
        rows = np.arange(n)
        picked = logp[rows, y]
        grad = p
        grad[rows, y] -= 1.0
        if weights is None:
            # Mean over the batch.
            grad *= 1.0 / n
            return float(-picked.mean()), grad
        # As torch cross_entropy(weight=w): a mean weighted by w[label].
        w = weights[y]
        total = w.sum()
        grad *= (w / total)[:, None]
        return float(-(w * picked).sum() / total), grad
    # One-hot or probability targets; with weights, torch scales each class term by w[c]
    # and still divides by N (not by the sum of weights).
    wt = y if weights is None else y * weights
    grad = p * wt.sum(axis=1, keepdims=True) - wt
    grad *= 1.0 / n
    return float(-(wt * logp).sum() / n), grad


def _binary_cross_entropy(out: np.ndarray, t: np.ndarray, spec: object) -> Result:
    # max(z, 0) - z t + log(1 + exp(-|z|)): the stable form of BCEWithLogits.
    loss = np.maximum(out, 0) - out * t + np.log1p(np.exp(-np.abs(out)))
    grad = (logistic(out) - t) * (1.0 / out.size)
    return float(loss.mean()), grad


def _mse(out: np.ndarray, y: np.ndarray, spec: object) -> Result:
    diff = out - y
    return float(np.mean(diff * diff)), diff * (2.0 / diff.size)


def _half_sse(out: np.ndarray, y: np.ndarray, spec: object) -> Result:
    diff = out - y
    n = out.shape[0]
    return float(0.5 * np.sum(diff * diff) / n), diff * (1.0 / n)


def _l1(out: np.ndarray, y: np.ndarray, spec: object) -> Result:
    diff = out - y
    return float(np.mean(np.abs(diff))), np.sign(diff) * (1.0 / diff.size)


# (output, targets, the loss spec) -> (mean loss, its gradient for the output), by kind.
LOSSES: dict[str, Callable[[np.ndarray, np.ndarray, Any], Result]] = {
    "softmax_cross_entropy": _softmax_cross_entropy,
    "binary_cross_entropy": _binary_cross_entropy,
    "mse": _mse,
    "half_sse": _half_sse,
    "l1": _l1,
}


def loss_and_grad(out: np.ndarray, y: np.ndarray, spec: LossSpec) -> Result:
    """The mean loss of a batch and its gradient with respect to the output ``out``, for
    targets checked by :func:`netspec._contract.check_targets` (which gives class indices
    as int64 and every other target in the output's shape and dtype)."""
    return LOSSES[spec.kind](out, y, spec)
