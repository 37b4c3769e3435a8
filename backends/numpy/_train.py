"""The fused training step: gradients, clipping, optimizer update, max_norm, statistics.

docs/training.md gives the exact mathematics, which follows PyTorch's optimizers
(``torch.optim``, single-tensor code path) and ``clip_grad_norm_`` / ``renorm``. Buffers
carry PyTorch's names (``exp_avg``, ``momentum_buffer``, ...), so that an optimizer state
reads the same whichever backend wrote it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from netspec.ir.train import ClipSpec, LossSpec, OptimizerSpec
from netspec.optimizers import check_optimizer_state, pack_state
from netspec.train_stats import Stats

if TYPE_CHECKING:
    from netspec.backends.numpy._model import NumpyModel

Buffers = dict[str, np.ndarray]
# One update of parameter w (in place) with gradient g at step t, buffers made lazily.
Update = Callable[[Any, np.ndarray, np.ndarray, Buffers, int, float], None]


def _sgd(spec: Any, w: np.ndarray, g: np.ndarray, buf: Buffers, t: int, lr: float) -> None:
    if spec.momentum != 0.0:
        b = buf.get("momentum_buffer")
        if b is None:
            b = buf["momentum_buffer"] = g.copy()
        else:
            b *= spec.momentum
            b += (1.0 - spec.dampening) * g
        g = g + spec.momentum * b if spec.nesterov else b
    w -= lr * g


def _adagrad(spec: Any, w: np.ndarray, g: np.ndarray, buf: Buffers, t: int, lr: float) -> None:
    s = buf.setdefault("sum", np.full_like(w, spec.initial_accumulator_value))
    s += g * g
    clr = lr / (1.0 + (t - 1) * spec.lr_decay)
    w -= clr * g / (np.sqrt(s) + spec.eps)


def _rmsprop(spec: Any, w: np.ndarray, g: np.ndarray, buf: Buffers, t: int, lr: float) -> None:
    v = buf.setdefault("square_avg", np.zeros_like(w))
    v *= spec.alpha
    v += (1.0 - spec.alpha) * g * g
    if spec.centered:
        a = buf.setdefault("grad_avg", np.zeros_like(w))
        a *= spec.alpha
        a += (1.0 - spec.alpha) * g
        avg = np.sqrt(v - a * a) + spec.eps
    else:
        avg = np.sqrt(v) + spec.eps
    if spec.momentum > 0.0:
        b = buf.setdefault("momentum_buffer", np.zeros_like(w))
        b *= spec.momentum
        b += g / avg
        w -= lr * b
    else:
        w -= lr * g / avg


def _adam(spec: Any, w: np.ndarray, g: np.ndarray, buf: Buffers, t: int, lr: float) -> None:
    m = buf.setdefault("exp_avg", np.zeros_like(w))
    v = buf.setdefault("exp_avg_sq", np.zeros_like(w))
    m *= spec.beta1
    m += (1.0 - spec.beta1) * g
    v *= spec.beta2
    v += (1.0 - spec.beta2) * g * g
    if spec.amsgrad:
        v_max = buf.setdefault("max_exp_avg_sq", np.zeros_like(w))
        np.maximum(v_max, v, out=v_max)
        v = v_max
    step_size = lr / (1.0 - spec.beta1**t)
    denom = np.sqrt(v) / math.sqrt(1.0 - spec.beta2**t) + spec.eps
    w -= step_size * m / denom


def _adamw(spec: Any, w: np.ndarray, g: np.ndarray, buf: Buffers, t: int, lr: float) -> None:
    w *= 1.0 - lr * spec.weight_decay  # decoupled decay, before the Adam step
    _adam(spec, w, g, buf, t, lr)


OPTIMIZERS: dict[str, Update] = {
    "sgd": _sgd,
    "adagrad": _adagrad,
    "rmsprop": _rmsprop,
    "adam": _adam,
    "adamw": _adamw,
}


def _clip(grads: list[np.ndarray], clip: ClipSpec) -> None:
    """Clip in place: by the global L2 norm (PyTorch's clip_grad_norm_) or by value."""
    if clip.by == "value":
        for g in grads:
            np.clip(g, -clip.threshold, clip.threshold, out=g)
        return
    # The norm of the per-tensor norms, as torch computes it.
    norms = np.array([np.sqrt(np.sum(g * g)) for g in grads], dtype=grads[0].dtype)
    total = np.sqrt(np.sum(norms * norms))
    coef = min(1.0, float(clip.threshold / (total + 1e-6)))
    for g in grads:
        g *= coef


def _max_norm(w: np.ndarray, c: float) -> None:
    """torch.renorm(w, 2, 0, c) in place: rows / filters with norm above c scaled to c."""
    flat = w.reshape(w.shape[0], -1)
    norms = np.sqrt(np.sum(flat * flat, axis=1))
    over = norms > c
    if over.any():
        flat[over] *= (c / (norms[over] + 1e-7))[:, None].astype(w.dtype)


def _class_hits(out: np.ndarray, y: np.ndarray) -> int:
    # Classes on the last axis; one hit per position (per step of an output [T, V]).
    labels = y if y.ndim == out.ndim - 1 else np.argmax(y, axis=-1)
    return int(np.sum(np.argmax(out, axis=-1) == labels))


def _binary_hits(out: np.ndarray, y: np.ndarray) -> int:
    # A sample is a hit when every output's sign agrees with its 0 / 1 target.
    agree = (out > 0) == (y.reshape(out.shape) >= 0.5)
    return int(np.sum(agree.reshape(len(out), -1).all(axis=1)))


def _no_hits(out: np.ndarray, y: np.ndarray) -> int:
    return 0  # regression: no top-1 to count


HITS: dict[str, Callable[[np.ndarray, np.ndarray], int]] = {
    "softmax_cross_entropy": _class_hits,
    "binary_cross_entropy": _binary_hits,
    "mse": _no_hits,
    "half_sse": _no_hits,
    "l1": _no_hits,
}


def hits(out: np.ndarray, y: np.ndarray, loss: LossSpec) -> int:
    """Top-1 hits of a batch for classification losses; 0 for regression losses."""
    return HITS[loss.kind](out, y)


class NumpyTrainStep:
    """:class:`netspec.backend.TrainStep` for a :class:`NumpyModel`; updates in place."""

    def __init__(
        self,
        model: NumpyModel,
        loss: LossSpec,
        optimizer: OptimizerSpec,
        clip: ClipSpec | None = None,
    ) -> None:
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.clip = clip
        self._update = OPTIMIZERS[optimizer.kind]
        self._t = 0
        self._buffers: dict[str, Buffers] = {spec.name: {} for spec in model.ir.params}
        self._reset_stats()

    def _reset_stats(self) -> None:
        self._loss_sum = 0.0
        self._samples = 0
        self._correct = 0
        self._steps = 0
        self._first_nonfinite = -1

    def step(self, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        """One update on a batch: gradients (penalties included), clipping, the optimizer,
        then max_norm; the statistics accumulate until :meth:`drain`."""
        model = self.model
        result = model.backprop(x, y, self.loss, train=True, input_grad=False)
        params = model.param_arrays()
        grads = [result.grads[name] for name in params]
        finite = math.isfinite(result.data_loss) and all(np.isfinite(g).all() for g in grads)
        if not finite and self._first_nonfinite < 0:
            self._first_nonfinite = self._steps
        if self.clip is not None and grads:
            _clip(grads, self.clip)
        self._t += 1
        for (name, w), g in zip(params.items(), grads, strict=True):
            self._update(self.optimizer, w, g, self._buffers[name], self._t, lr)
            c = model.ir_param(name).regularize.max_norm
            if c is not None:
                _max_norm(w, c)
        batch = len(result.output)
        self._loss_sum += result.data_loss * batch
        self._samples += batch
        self._correct += hits(result.output, np.asarray(y), self.loss)
        self._steps += 1

    def drain(self) -> Stats:
        """The statistics since the last drain (then reset)."""
        stats = Stats(self._loss_sum, self._samples, self._correct, self._first_nonfinite)
        self._reset_stats()
        return stats

    def optimizer_state(self) -> dict[str, np.ndarray]:
        """Every buffer as ``<param>.<buffer>``, plus ``step`` (netspec.optimizers)."""
        copies = {name: {k: v.copy() for k, v in b.items()} for name, b in self._buffers.items()}
        return pack_state(self._t, copies)

    def load_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`optimizer_state` saved, checked by check_optimizer_state."""
        params = self.model.param_arrays()
        shapes = {name: w.shape for name, w in params.items()}
        step, found = check_optimizer_state(state, self.optimizer, shapes, self.model.ir.name)
        self._buffers = {
            name: {k: v.astype(params[name].dtype, copy=True) for k, v in found[name].items()}
            for name in params
        }
        self._t = step
