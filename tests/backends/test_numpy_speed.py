"""The NumPy backend against a textbook NumPy implementation of LeNet-5.

The reference is the straightforward implementation of "Deep Learning from Scratch"
(``common/layers.py``): float64, one Python object per layer, im2col as
``transpose(0, 4, 5, 1, 2, 3)`` copies, pooling through im2col and argmax, col2im by
loops over kernel offsets. It is an independent oracle for the LeNet-5 loss and
gradients, and the speed bar: the backend must be at least twice as fast on batch 64.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_numpy_support import assert_close

import netspec
from netspec.backends.numpy import BACKEND
from netspec.ir import CheckedModel
from netspec.ir.train import SoftmaxCrossEntropy

LENET = "specs/lenet5.net"
BATCH = 64


def _im2col(x: np.ndarray, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, kh, kw, oh, ow))
    for y in range(kh):
        for x_ in range(kw):
            col[:, :, y, x_, :, :] = img[
                :, :, y : y + stride * oh : stride, x_ : x_ + stride * ow : stride
            ]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, -1)


def _col2im(
    col: np.ndarray, shape: tuple[int, ...], kh: int, kw: int, stride: int, pad: int
) -> np.ndarray:
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    col = col.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for y in range(kh):
        for x_ in range(kw):
            img[:, :, y : y + stride * oh : stride, x_ : x_ + stride * ow : stride] += col[
                :, :, y, x_, :, :
            ]
    return img[:, :, pad : h + pad, pad : w + pad]


class _Conv:
    def __init__(self, w: np.ndarray, b: np.ndarray, pad: int) -> None:
        self.w, self.b, self.pad = w, b, pad

    def forward(self, x: np.ndarray) -> np.ndarray:
        fn, _, kh, kw = self.w.shape
        n, _, h, w = x.shape
        oh, ow = h + 2 * self.pad - kh + 1, w + 2 * self.pad - kw + 1
        self.x, self.col = x, _im2col(x, kh, kw, 1, self.pad)
        self.col_w = self.w.reshape(fn, -1).T
        out = self.col @ self.col_w + self.b
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        fn, c, kh, kw = self.w.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = dout.sum(axis=0)
        self.dw = (self.col.T @ dout).transpose(1, 0).reshape(fn, c, kh, kw)
        return _col2im(dout @ self.col_w.T, self.x.shape, kh, kw, 1, self.pad)


class _Pool:
    def forward(self, x: np.ndarray) -> np.ndarray:
        n, c, h, w = x.shape
        col = _im2col(x, 2, 2, 2, 0).reshape(-1, 4)
        self.x, self.arg = x, np.argmax(col, axis=1)
        return np.max(col, axis=1).reshape(n, h // 2, w // 2, c).transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = dout.transpose(0, 2, 3, 1)
        dmax = np.zeros((dout.size, 4))
        dmax[np.arange(self.arg.size), self.arg.flatten()] = dout.flatten()
        return _col2im(dmax.reshape(dout.size, -1), self.x.shape, 2, 2, 2, 0)


class _Relu:
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        return dout


class _Affine:
    def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
        self.w, self.b = w.T, b  # the book keeps W as [in, out]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.w + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dw, self.db = self.x.T @ dout, dout.sum(axis=0)
        return (dout @ self.w.T).reshape(*self.shape)


class TextbookLeNet:
    """LeNet-5 as the book would write it, from the same parameters as the backend."""

    def __init__(self, p: dict[str, np.ndarray]) -> None:
        f = {k: v.astype(np.float64) for k, v in p.items()}
        self.layers: list[Any] = [
            _Conv(f["conv2d_1.weight"], f["conv2d_1.bias"], 2), _Relu(), _Pool(),
            _Conv(f["conv2d_2.weight"], f["conv2d_2.bias"], 0), _Relu(), _Pool(),
            _Affine(f["dense_1.weight"], f["dense_1.bias"]), _Relu(),
            _Affine(f["dense_2.weight"], f["dense_2.bias"]), _Relu(),
            _Affine(f["dense_3.weight"], f["dense_3.bias"]),
        ]

    def loss_and_grads(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        out = x
        for layer in self.layers:
            out = layer.forward(out)
        shifted = out - out.max(axis=1, keepdims=True)
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        n = x.shape[0]
        loss = -np.log(p[np.arange(n), t] + 1e-7).mean()
        dout = p.copy()
        dout[np.arange(n), t] -= 1
        dout /= n
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads: dict[str, np.ndarray] = {}
        names = ["conv2d_1", "conv2d_2", "dense_1", "dense_2", "dense_3"]
        learnable = [layer for layer in self.layers if isinstance(layer, _Conv | _Affine)]
        for name, layer in zip(names, learnable, strict=True):
            grads[f"{name}.weight"] = layer.dw if isinstance(layer, _Conv) else layer.dw.T
            grads[f"{name}.bias"] = layer.db
        return float(loss), grads


@pytest.fixture(scope="module")
def lenet() -> CheckedModel:
    return netspec.load(LENET).model()


def _batch(model: CheckedModel) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (BATCH, *model.input.shape)).astype(np.float32)
    return x, rng.integers(0, 10, BATCH)


def test_lenet_gradients_match_the_textbook_implementation(lenet: CheckedModel) -> None:
    compiled = BACKEND.compile(lenet, seed=3)
    x, t = _batch(lenet)
    loss, grads = compiled.loss_and_grads(x, t, SoftmaxCrossEntropy())
    want_loss, want = TextbookLeNet(compiled.parameters()).loss_and_grads(x, t)
    # The book adds 1e-7 inside the log; float32 against float64 otherwise.
    assert abs(loss - want_loss) < 1e-5
    for name, g in want.items():
        scale = float(np.abs(g).max())
        assert_close(name, grads[name], g, rtol=1e-3, atol=1e-4 * scale)


def _best_time(step: Callable[[], object], repeats: int) -> float:
    step()  # warm-up: buffers, caches
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    # A BLAS thread pool on a busy, shared machine makes timings erratic (threads spin
    # while others run); on one thread the comparison is between the implementations.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional dependency (scikit-learn brings it)
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def test_lenet_step_is_at_least_twice_as_fast_as_the_textbook(lenet: CheckedModel) -> None:
    compiled = BACKEND.compile(lenet, seed=3)
    textbook = TextbookLeNet(compiled.parameters())
    x, t = _batch(lenet)
    loss = SoftmaxCrossEntropy()
    # Interleaved rounds and the minimum of each: robust against a busy machine.
    ours, theirs = float("inf"), float("inf")
    with _one_blas_thread():
        for _ in range(3):
            ours = min(ours, _best_time(lambda: compiled.loss_and_grads(x, t, loss), 5))
            theirs = min(theirs, _best_time(lambda: textbook.loss_and_grads(x, t), 3))
    timings = f"numpy backend {ours * 1e3:.1f} ms, textbook {theirs * 1e3:.1f} ms"
    assert theirs / ours >= 2.0, timings
