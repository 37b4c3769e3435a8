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
from netspec.errors import NetspecError, ShapeError
from netspec.ir.train import LossSpec, SoftmaxCrossEntropy

Result = tuple[float, np.ndarray]


def _regression_target(out: np.ndarray, y: np.ndarray, what: str) -> np.ndarray:
    y = np.asarray(y)
    if not (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
        raise ShapeError(f"{what} targets must be numbers, got dtype {y.dtype}")
    if y.shape == out.shape:
        return y.astype(out.dtype, copy=False)
    # One output per sample: accept targets [N] for outputs [N, 1].
    if out.ndim == 2 and out.shape[1] == 1 and y.shape == out.shape[:1]:
        return y.astype(out.dtype, copy=False).reshape(out.shape)
    raise ShapeError(f"{what} targets must have the output's shape {out.shape}, got {y.shape}")


def _softmax_cross_entropy(
    out: np.ndarray, y: np.ndarray, spec: SoftmaxCrossEntropy
) -> tuple[float, np.ndarray]:
    if out.ndim != 2:
        raise ShapeError(
            "softmax_cross_entropy needs an output of shape (N, classes), "
            f"got {out.shape}; insert flatten or dense before the loss"
        )
    n, classes = out.shape
    weights = None
    if spec.class_weights is not None:
        if len(spec.class_weights) != classes:
            raise NetspecError(
                f"softmax_cross_entropy has {len(spec.class_weights)} class weights "
                f"but the output has {classes} classes"
            )
        weights = np.asarray(spec.class_weights, dtype=out.dtype)
    logp = log_softmax_values(out, axis=1)
    p = np.exp(logp)
    y = np.asarray(y)
    if y.shape == (n,) and np.issubdtype(y.dtype, np.integer):
        if y.size and (y.min() < 0 or y.max() >= classes):
            bad = int(y.min() if y.min() < 0 else y.max())
            raise ShapeError(
                f"label {bad} is out of range for {classes} classes (0..{classes - 1})"
            )
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
    if y.shape == (n, classes) and np.issubdtype(y.dtype, np.floating):
        # One-hot or probability targets; with weights, torch scales each class term by
        # w[c] and still divides by N (not by the sum of weights).
        t = y.astype(out.dtype, copy=False)
        wt = t if weights is None else t * weights
        grad = p * wt.sum(axis=1, keepdims=True) - wt
        grad *= 1.0 / n
        return float(-(wt * logp).sum() / n), grad
    raise ShapeError(
        f"softmax_cross_entropy labels must be integers of shape ({n},) or floats of "
        f"shape ({n}, {classes}); got dtype {y.dtype} and shape {y.shape}"
    )


def _binary_cross_entropy(out: np.ndarray, y: np.ndarray, spec: object) -> Result:
    t = _regression_target(out, y, "binary_cross_entropy")
    # max(z, 0) - z t + log(1 + exp(-|z|)): the stable form of BCEWithLogits.
    loss = np.maximum(out, 0) - out * t + np.log1p(np.exp(-np.abs(out)))
    grad = (logistic(out) - t) * (1.0 / out.size)
    return float(loss.mean()), grad


def _mse(out: np.ndarray, y: np.ndarray, spec: object) -> Result:
    diff = out - _regression_target(out, y, "mse")
    return float(np.mean(diff * diff)), diff * (2.0 / diff.size)


def _half_sse(out: np.ndarray, y: np.ndarray, spec: object) -> Result:
    diff = out - _regression_target(out, y, "half_sse")
    n = out.shape[0]
    return float(0.5 * np.sum(diff * diff) / n), diff * (1.0 / n)


def _l1(out: np.ndarray, y: np.ndarray, spec: object) -> Result:
    diff = out - _regression_target(out, y, "l1")
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
    """The mean loss of a batch and its gradient with respect to the output ``out``."""
    n = out.shape[0]
    if np.asarray(y).shape[:1] != (n,):
        raise ShapeError(
            f"targets must have batch size {n} like the input, got shape {np.shape(y)}"
        )
    return LOSSES[spec.kind](out, y, spec)
