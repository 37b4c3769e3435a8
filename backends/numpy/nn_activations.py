"""The activations of the IR in NumPy, forward and backward, and their lowering entries.

Part of :mod:`netspec.backends.numpy.nn` (whose calling convention they follow and whose
``LOWERINGS`` takes :data:`ACTIVATIONS` in): split off so that adding an activation is a
pair of functions and one entry here. Like every backend function they are copied as they
are into generated NumPy modules, so they read only ``np``, ``math``, module constants and
each other.

Conventions at the kinks (docs/semantics.md), all PyTorch's: relu'(0) = 0; relu6' is 0 at 0
and 6; hard_sigmoid' is 0 at -3 and 3; hard_swish' is 0 at -3 and 1 at 3; leaky_relu'(0)
and prelu'(0) are the negative slope; elu'(0) = alpha; selu'(0) = scale alpha; step' = 0
everywhere. Every formula keeps the input's dtype; exact GELU evaluates erf in float64
(Cody) and rounds once to the model dtype. The hot piecewise ones (relu, leaky_relu,
prelu) multiply by 0/1 masks rather than call ``np.where``: its branchy inner loop is
about ten times slower on random signs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netspec.backends.numpy._erf import erf
from netspec.lowering import Lowering, batch_axis, no_static

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_C = 0.044715
# torch.nn.functional.selu's constants, to the digits PyTorch writes them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
# PyTorch's hardsigmoid backward multiplies by 1.0f / 6.0f, a float32 constant, in
# float64 too (0.1666666716337204, not 1/6); netspec uses the same so that gradients
# agree with PyTorch's at float64 precision. In float32 it is 1/6 correctly rounded.
_HARD_SIGMOID_SLOPE = float(np.float32(1.0 / 6.0))


def identity(x: np.ndarray) -> tuple[np.ndarray, Any]:
    return x, None


def identity_backward(dy: np.ndarray, cache: Any) -> np.ndarray:
    return dy


def step(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """Heaviside: 1 where x > 0 else 0 (0 at 0); the gradient is zero everywhere."""
    return (x > 0).astype(x.dtype), None


def step_backward(dy: np.ndarray, cache: Any) -> np.ndarray:
    return np.zeros_like(dy)


def logistic(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)); for x very negative exp overflows to inf and the result is the
    correct limit 0, so the overflow is expected and silenced."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def sigmoid(x: np.ndarray) -> tuple[np.ndarray, Any]:
    y = logistic(x)
    return y, y


def sigmoid_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    return dy * y * (1.0 - y)


def tanh(x: np.ndarray) -> tuple[np.ndarray, Any]:
    y = np.tanh(x)
    return y, y


def tanh_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    return dy * (1.0 - y * y)


def silu(x: np.ndarray) -> tuple[np.ndarray, Any]:
    s = logistic(x)
    return x * s, (x, s)


def silu_backward(dy: np.ndarray, saved: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    x, s = saved
    return dy * s * (1.0 + x * (1.0 - s))


def mish(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """x tanh(softplus(x)), softplus(x) = log(1 + e^x) through logaddexp: no overflow."""
    t = np.tanh(np.logaddexp(x, 0))
    return x * t, (x, t)


def mish_backward(dy: np.ndarray, cache: Any) -> np.ndarray:
    # tanh(sp) + x sp' (1 - tanh(sp)^2), with sp' = sigmoid: PyTorch's formula.
    x, t = cache
    return dy * (t + x * logistic(x) * (1.0 - t * t))


def relu(x: np.ndarray) -> tuple[np.ndarray, Any]:
    y = np.maximum(x, 0)
    return y, y


def relu_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    # As PyTorch: the gradient passes where the output is > 0, so relu'(0) = 0.
    return dy * (y > 0)


def relu6(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """min(max(x, 0), 6)."""
    return np.minimum(np.maximum(x, 0), 6), (x > 0) & (x < 6)


def relu6_backward(dy: np.ndarray, inside: np.ndarray) -> np.ndarray:
    # As PyTorch (a hardtanh): the gradient passes strictly inside (0, 6), so it is 0 at 0 and 6.
    return dy * inside


def hard_sigmoid(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """min(max(x + 3, 0), 6) / 6, in PyTorch's order of operations."""
    return np.minimum(np.maximum(x + 3, 0), 6) / 6, (x > -3) & (x < 3)


def hard_sigmoid_backward(dy: np.ndarray, inside: np.ndarray) -> np.ndarray:
    # The slope strictly inside (-3, 3), 0 at -3 and 3 (PyTorch).
    return dy * inside * _HARD_SIGMOID_SLOPE


def hard_swish(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """x min(max(x + 3, 0), 6) / 6, in PyTorch's order of operations."""
    return x * np.minimum(np.maximum(x + 3, 0), 6) / 6, x


def hard_swish_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    # As PyTorch: 0 for x <= -3, x / 3 + 1/2 for -3 < x < 3, 1 for x >= 3.
    return np.where(x < 3, np.where(x > -3, dy * (x / 3 + 0.5), 0), dy)


def leaky_relu(x: np.ndarray, *, slope: float) -> tuple[np.ndarray, Any]:
    # Exactly x for x > 0 and slope * x otherwise: one of the two terms is 0.
    return np.maximum(x, 0) + slope * np.minimum(x, 0), x > 0


def leaky_relu_backward(dy: np.ndarray, positive: np.ndarray, *, slope: float) -> np.ndarray:
    return dy * positive + (dy * slope) * ~positive


def prelu(x: np.ndarray, weight: np.ndarray, *, per_channel: bool) -> tuple[np.ndarray, Any]:
    """max(0, x) + a min(0, x) with a learnable slope ``a``: one per channel (axis 0 of
    the sample) or one shared. As PyTorch, x = 0 takes the slope branch."""
    shape = (1, -1) + (1,) * (x.ndim - 2) if per_channel else (1,) * x.ndim
    negative = np.minimum(x, 0)
    return np.maximum(x, 0) + weight.reshape(shape) * negative, (negative, x > 0)


def prelu_backward(
    dy: np.ndarray, cache: Any, weight: np.ndarray, *, per_channel: bool, need_dx: bool = True
) -> tuple:
    """(dx, dweight); dx None unless ``need_dx``."""
    negative, positive = cache
    shape = (1, -1) + (1,) * (dy.ndim - 2) if per_channel else (1,) * dy.ndim
    axes = (0, *range(2, dy.ndim)) if per_channel else None
    dweight = np.sum(negative * dy, axis=axes).reshape(weight.shape)
    if not need_dx:
        return None, dweight
    return dy * positive + (dy * weight.reshape(shape)) * ~positive, dweight


def elu(x: np.ndarray, *, alpha: float) -> tuple[np.ndarray, Any]:
    """x where x > 0, else alpha (e^x - 1)."""
    negative = np.expm1(np.minimum(x, 0)) * alpha
    return np.where(x > 0, x, negative), (x, negative)


def elu_backward(dy: np.ndarray, cache: Any, *, alpha: float) -> np.ndarray:
    # d/dx alpha (e^x - 1) = alpha e^x = negative + alpha; at x = 0 this is alpha.
    x, negative = cache
    return np.where(x > 0, dy, dy * (negative + alpha))


def selu(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """scale x where x > 0, else scale alpha (e^x - 1), with PyTorch's two constants."""
    negative = np.expm1(np.minimum(x, 0)) * (_SELU_SCALE * _SELU_ALPHA)
    return np.where(x > 0, x * _SELU_SCALE, negative), (x > 0, negative)


def selu_backward(dy: np.ndarray, cache: Any) -> np.ndarray:
    # scale alpha e^x = negative + scale alpha below 0; at x = 0 this is scale alpha.
    positive, negative = cache
    return np.where(positive, dy * _SELU_SCALE, dy * (negative + _SELU_SCALE * _SELU_ALPHA))


def gelu(x: np.ndarray, *, approximate: str) -> tuple[np.ndarray, Any]:
    """x Phi(x) exactly, Phi(x) = (1 + erf(x / sqrt(2))) / 2 with erf in float64 rounded
    once to the dtype of x; or PyTorch's tanh approximation,
    x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) / 2."""
    if approximate == "tanh":
        t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_C * x * x * x))
        return 0.5 * x * (1.0 + t), (x, t)
    cdf = (0.5 * (1.0 + erf(x.astype(np.float64) * _INV_SQRT_2))).astype(x.dtype)
    return x * cdf, (x, cdf)


def gelu_backward(dy: np.ndarray, cache: Any, *, approximate: str) -> np.ndarray:
    """Phi(x) + x phi(x), phi the standard normal density; or the tanh form's derivative."""
    x, s = cache
    if approximate == "tanh":
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_TANH_C * x * x)
        return dy * (0.5 * (1.0 + s) + 0.5 * x * (1.0 - s * s) * du)
    pdf = np.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return dy * (s + x * pdf)


def softplus(x: np.ndarray, *, beta: float, threshold: float) -> tuple[np.ndarray, Any]:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch)."""
    bx = x * beta
    linear = bx > threshold
    # exp only sees clipped values, so the linear region cannot overflow.
    z = np.exp(np.minimum(bx, threshold))
    return np.where(linear, x, np.log1p(z) * (1.0 / beta)), (linear, z)


def softplus_backward(dy: np.ndarray, cache: Any) -> np.ndarray:
    linear, z = cache
    return np.where(linear, dy, dy * z / (z + 1.0))


def softmax(x: np.ndarray, *, axis: int) -> tuple[np.ndarray, Any]:
    """exp(x - max) / sum(exp(x - max)) along a batch axis."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e, e


def softmax_backward(dy: np.ndarray, y: np.ndarray, *, axis: int) -> np.ndarray:
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def log_softmax_values(x: np.ndarray, axis: int) -> np.ndarray:
    """x - logsumexp(x) along ``axis``, shifted by the maximum for stability."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def log_softmax(x: np.ndarray, *, axis: int) -> tuple[np.ndarray, Any]:
    y = log_softmax_values(x, axis)
    return y, y


def log_softmax_backward(dy: np.ndarray, y: np.ndarray, *, axis: int) -> np.ndarray:
    return dy - np.exp(y) * dy.sum(axis=axis, keepdims=True)


# -- the table --------------------------------------------------------------------------------


def _pair(fn: Any, backward: Any, **fields: str) -> Lowering:
    """An entry whose static arguments are op fields, as ``argument=field``."""
    if not fields:
        return Lowering(fn=fn, static=no_static, backward=backward)
    return Lowering(
        fn=fn,
        static=lambda node: {arg: getattr(node.op, field) for arg, field in fields.items()},
        backward=backward,
    )


ACTIVATIONS: dict[str, Lowering] = {
    "identity": _pair(identity, identity_backward),
    "step": _pair(step, step_backward),
    "sigmoid": _pair(sigmoid, sigmoid_backward),
    "tanh": _pair(tanh, tanh_backward),
    "relu": _pair(relu, relu_backward),
    "silu": _pair(silu, silu_backward),
    "mish": _pair(mish, mish_backward),
    "relu6": _pair(relu6, relu6_backward),
    "hard_sigmoid": _pair(hard_sigmoid, hard_sigmoid_backward),
    "hard_swish": _pair(hard_swish, hard_swish_backward),
    "leaky_relu": _pair(leaky_relu, leaky_relu_backward, slope="negative_slope"),
    "prelu": _pair(prelu, prelu_backward, per_channel="per_channel"),
    "elu": _pair(elu, elu_backward, alpha="alpha"),
    "selu": _pair(selu, selu_backward),
    "gelu": _pair(gelu, gelu_backward, approximate="approximate"),
    "softplus": _pair(softplus, softplus_backward, beta="beta", threshold="threshold"),
    "softmax": Lowering(fn=softmax, static=batch_axis("axis"), backward=softmax_backward),
    "log_softmax": Lowering(
        fn=log_softmax, static=batch_axis("axis"), backward=log_softmax_backward
    ),
}
