"""Activations, forward and backward, with PyTorch's conventions at the kinks.

Conventions (see docs/semantics.md): relu'(0) = 0; leaky_relu'(0) and prelu'(0) are the
negative slope; elu'(0) = alpha; step' = 0 everywhere. Every formula keeps the input's
dtype; exact GELU evaluates erf in float64 (Cody) and rounds once to the model dtype.

The hot piecewise ones (relu, leaky_relu, prelu) multiply by 0/1 masks rather than call
``np.where``: its branchy inner loop is about ten times slower on random signs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netspec.backends.numpy._erf import erf
from netspec.backends.numpy._kernel import Context, Kernel, Params, batch_axis, channel_shape
from netspec.ir import CheckedNode
from netspec.ir.ops import Elu, Gelu, LeakyRelu, LogSoftmax, Prelu, Softmax, Softplus

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_C = 0.044715


class _Pointwise(Kernel):
    """An activation of one input with no parameters: subclasses give ``fn`` / ``grad``."""

    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        raise NotImplementedError

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        return self.fn(xs[0])

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        return [self.grad(dy, cache) if need[0] else None]


class IdentityKernel(_Pointwise):
    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return x, None

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        return dy


class StepKernel(_Pointwise):
    """Heaviside: 1 where x > 0 else 0 (0 at 0); the gradient is zero everywhere."""

    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        return (x > 0).astype(x.dtype), None

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        return np.zeros_like(dy)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)); for x very negative exp overflows to inf and the result is the
    correct limit 0, so the overflow is expected and silenced."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


class SigmoidKernel(_Pointwise):
    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        y = sigmoid(x)
        return y, y

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        y: np.ndarray = cache
        return dy * y * (1.0 - y)


class TanhKernel(_Pointwise):
    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        y = np.tanh(x)
        return y, y

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        y: np.ndarray = cache
        return dy * (1.0 - y * y)


class ReluKernel(_Pointwise):
    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        y = np.maximum(x, 0)
        return y, y

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        # As PyTorch: the gradient passes where the output is > 0, so relu'(0) = 0.
        y: np.ndarray = cache
        return dy * (y > 0)


class LeakyReluKernel(_Pointwise):
    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        assert isinstance(node.op, LeakyRelu)
        self.slope = node.op.negative_slope

    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        # Exactly x for x > 0 and slope * x otherwise: one of the two terms is 0.
        return np.maximum(x, 0) + self.slope * np.minimum(x, 0), x > 0

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        positive: np.ndarray = cache
        return dy * positive + (dy * self.slope) * ~positive


class EluKernel(_Pointwise):
    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        assert isinstance(node.op, Elu)
        self.alpha = node.op.alpha

    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        negative = np.expm1(np.minimum(x, 0)) * self.alpha
        return np.where(x > 0, x, negative), (x, negative)

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        # d/dx alpha (e^x - 1) = alpha e^x = negative + alpha; at x = 0 this is alpha.
        x, negative = cache
        return np.where(x > 0, dy, dy * (negative + self.alpha))


class GeluKernel(_Pointwise):
    """x * Phi(x) exactly (erf), or PyTorch's tanh approximation."""

    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        assert isinstance(node.op, Gelu)
        self.tanh = node.op.approximate == "tanh"

    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        if self.tanh:
            t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_C * x * x * x))
            return 0.5 * x * (1.0 + t), (x, t)
        cdf = (0.5 * (1.0 + erf(x.astype(np.float64) * _INV_SQRT_2))).astype(x.dtype)
        return x * cdf, (x, cdf)

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        x, s = cache
        if self.tanh:
            du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_TANH_C * x * x)
            return dy * (0.5 * (1.0 + s) + 0.5 * x * (1.0 - s * s) * du)
        pdf = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
        return dy * (s + x * pdf)


class SoftplusKernel(_Pointwise):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch)."""

    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        assert isinstance(node.op, Softplus)
        self.beta = node.op.beta
        self.threshold = node.op.threshold

    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        bx = x * self.beta
        linear = bx > self.threshold
        # exp is evaluated on clipped values only, so the linear region cannot overflow.
        z = np.exp(np.minimum(bx, self.threshold))
        y = np.where(linear, x, np.log1p(z) * (1.0 / self.beta))
        return y, (linear, z)

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        linear, z = cache
        return np.where(linear, dy, dy * z / (z + 1.0))


class SoftmaxKernel(_Pointwise):
    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        assert isinstance(node.op, Softmax)
        self.axis = batch_axis(node.op.axis)

    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        e = np.exp(x - x.max(axis=self.axis, keepdims=True))
        e /= e.sum(axis=self.axis, keepdims=True)
        return e, e

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        y: np.ndarray = cache
        return y * (dy - np.sum(dy * y, axis=self.axis, keepdims=True))


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """x - logsumexp(x) along ``axis``, shifted by the maximum for stability."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class LogSoftmaxKernel(_Pointwise):
    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        assert isinstance(node.op, LogSoftmax)
        self.axis = batch_axis(node.op.axis)

    def fn(self, x: np.ndarray) -> tuple[np.ndarray, Any]:
        y = log_softmax(x, self.axis)
        return y, y

    def grad(self, dy: np.ndarray, cache: Any) -> np.ndarray:
        y: np.ndarray = cache
        return dy - np.exp(y) * dy.sum(axis=self.axis, keepdims=True)


class PreluKernel(Kernel):
    """max(0, x) + a * min(0, x) with a learnable slope ``a``: one per channel (axis 0 of
    the sample) or one shared. As PyTorch, x = 0 takes the slope branch."""

    def __init__(
        self, node: CheckedNode, in_shapes: tuple[tuple[int, ...], ...], names: dict[str, str]
    ) -> None:
        super().__init__(node, in_shapes, names)
        assert isinstance(node.op, Prelu)
        rank = len(in_shapes[0])
        self.per_channel = node.op.per_channel
        self.bshape = channel_shape(rank) if self.per_channel else (1,) * (rank + 1)
        self.reduce = (0, *range(2, rank + 1)) if self.per_channel else None

    def forward(self, xs: list[np.ndarray], params: Params, ctx: Context) -> tuple[np.ndarray, Any]:
        x = xs[0]
        a = params[self.names["weight"]].reshape(self.bshape)
        negative = np.minimum(x, 0)
        return np.maximum(x, 0) + a * negative, (negative, x > 0)

    def backward(
        self,
        dy: np.ndarray,
        cache: Any,
        params: Params,
        need: tuple[bool, ...],
        grads: Params,
    ) -> list[np.ndarray | None]:
        negative, positive = cache
        slope = params[self.names["weight"]]
        grads[self.names["weight"]] = np.sum(negative * dy, axis=self.reduce).reshape(slope.shape)
        if not need[0]:
            return [None]
        return [dy * positive + (dy * slope.reshape(self.bshape)) * ~positive]
