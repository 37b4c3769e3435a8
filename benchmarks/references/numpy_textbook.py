"""NumPy networks as the textbook writes them ("Deep Learning from Scratch", common/layers.py).

float64, one Python object per layer with ``forward`` / ``backward``, im2col as
``transpose(0, 4, 5, 1, 2, 3)`` copies, pooling through im2col and argmax, col2im by
loops over kernel offsets, softmax-with-loss with the book's ``1e-7`` inside the log, and
the book's SGD (``params[key] -= lr * grads[key]``). It is the speed bar of the NumPy
backend (which must be at least twice as fast) and an independent oracle for its
gradients (tests/backends/test_numpy_speed.py).

Weights are taken from netspec's parameter dictionary (dense weights [out, in], conv
weights [out, in, kh, kw]); the book keeps dense weights as [in, out], so they are
transposed on the way in and the gradients transposed on the way out.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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


class Convolution:
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


class Pooling:
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


class Relu:
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        return dout


class Affine:
    def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
        self.w, self.b = w.T.copy(), b  # the book keeps W as [in, out]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.w + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dw, self.db = self.x.T @ dout, dout.sum(axis=0)
        return (dout @ self.w.T).reshape(*self.shape)


class TextbookNet:
    """A chain of layers with a softmax-with-loss on top, from netspec's parameters.

    ``learnable`` pairs each netspec layer name with its Convolution / Affine object.
    """

    def __init__(self, layers: list[Any], names: list[str]) -> None:
        self.layers = layers
        learnable = [layer for layer in layers if isinstance(layer, Convolution | Affine)]
        self.learnable = list(zip(names, learnable, strict=True))

    def predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def loss_and_grads(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
        """Mean cross-entropy of the batch and the gradients, by netspec parameter name."""
        out = self.predict(x)
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
        for name, layer in self.learnable:
            grads[f"{name}.weight"] = layer.dw if isinstance(layer, Convolution) else layer.dw.T
            grads[f"{name}.bias"] = layer.db
        return float(loss), grads

    def sgd_step(self, x: np.ndarray, t: np.ndarray, lr: float) -> float:
        """One training step: forward, backward, then the book's SGD on every layer."""
        loss, _ = self.loss_and_grads(x, t)
        for _, layer in self.learnable:
            layer.w -= lr * layer.dw
            layer.b -= lr * layer.db
        return loss


def _f64(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.array(v, dtype=np.float64) for k, v in p.items()}


def textbook_lenet(p: dict[str, np.ndarray]) -> TextbookNet:
    """LeNet-5 (specs/lenet5.net) as the book would write it."""
    f = _f64(p)
    layers: list[Any] = [
        Convolution(f["conv2d_1.weight"], f["conv2d_1.bias"], 2),
        Relu(),
        Pooling(),
        Convolution(f["conv2d_2.weight"], f["conv2d_2.bias"], 0),
        Relu(),
        Pooling(),
        Affine(f["dense_1.weight"], f["dense_1.bias"]),
        Relu(),
        Affine(f["dense_2.weight"], f["dense_2.bias"]),
        Relu(),
        Affine(f["dense_3.weight"], f["dense_3.bias"]),
    ]
    return TextbookNet(layers, ["conv2d_1", "conv2d_2", "dense_1", "dense_2", "dense_3"])


def textbook_mlp(p: dict[str, np.ndarray]) -> TextbookNet:
    """The MLP 784-256-10 (specs/mlp.net): the book's TwoLayerNet with ReLU."""
    f = _f64(p)
    layers: list[Any] = [
        Affine(f["dense_1.weight"], f["dense_1.bias"]),
        Relu(),
        Affine(f["dense_2.weight"], f["dense_2.bias"]),
    ]
    return TextbookNet(layers, ["dense_1", "dense_2"])


class TextbookLeNet(TextbookNet):
    """LeNet-5 from netspec's parameters (kept for tests/backends/test_numpy_speed.py)."""

    def __init__(self, p: dict[str, np.ndarray]) -> None:
        net = textbook_lenet(p)
        super().__init__(net.layers, [name for name, _ in net.learnable])


BUILDERS = {"lenet5": textbook_lenet, "mlp": textbook_mlp}
