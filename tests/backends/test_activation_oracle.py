"""Parameterless activations against torch.nn.functional as an external oracle, in float64.

The NumPy lowering's forward and hand-written backward, and the JAX lowering under
``jax.vjp``, on fixed points that hold every kink (0, ±3, 6), points a hair either side
of them and large |x| where exp overflows: values to 1e-10 and gradients to 1e-9. A
convention at a kink other than PyTorch's autograd's would be off there by at least a
sixth of the cotangent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from netspec.backends.numpy.nn import LOWERINGS as NUMPY_LOWERINGS

torch = pytest.importorskip("torch", reason="torch is the oracle (pip install netspec[torch])")
F = torch.nn.functional

ORACLE: dict[str, Callable[..., object]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "silu": F.silu,
    "mish": F.mish,
    "selu": F.selu,
    "relu6": F.relu6,
    "hard_sigmoid": F.hardsigmoid,
    "hard_swish": F.hardswish,
}
KINKS = np.array([-3.0, 0.0, 3.0, 6.0])
EPS = 1e-12
POINTS = np.concatenate(
    [
        KINKS,
        KINKS - EPS,
        KINKS + EPS,
        [-1000.0, -800.0, -50.0, -20.0, -5.9, -2.5, -1.0, -1e-300, 1e-300, 0.5, 2.9],
        [5.9, 6.1, 20.0, 50.0, 800.0, 1000.0],
    ]
)
COTANGENT = np.linspace(-1.3, 1.7, POINTS.size)


def oracle(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's values and gradients (of sum(y * COTANGENT)) at POINTS."""
    x = torch.tensor(POINTS, requires_grad=True)
    y = ORACLE[kind](x)
    (grad,) = torch.autograd.grad(y, x, torch.tensor(COTANGENT))
    return y.detach().numpy(), grad.numpy()


def check(kind: str, y: np.ndarray, grad: np.ndarray) -> None:
    want_y, want_grad = oracle(kind)
    assert y.dtype == grad.dtype == np.float64
    np.testing.assert_allclose(y, want_y, rtol=1e-10, atol=1e-12, err_msg=f"{kind} values")
    np.testing.assert_allclose(grad, want_grad, rtol=1e-9, atol=1e-12, err_msg=f"{kind} grads")


@pytest.mark.parametrize("kind", list(ORACLE))
def test_numpy_forward_and_backward_match_torch(kind: str) -> None:
    lowering = NUMPY_LOWERINGS[kind]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, cache = lowering.fn(POINTS.copy())
        grad = lowering.backward(COTANGENT.copy(), cache)  # type: ignore[misc]
    check(kind, y, grad)


@pytest.mark.parametrize("kind", list(ORACLE))
def test_jax_forward_and_gradient_match_torch(kind: str) -> None:
    jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
    from netspec.backends.jax import precision_scope
    from netspec.backends.jax.nn import LOWERINGS as JAX_LOWERINGS

    with precision_scope("float64"):
        y, pullback = jax.vjp(JAX_LOWERINGS[kind].fn, jax.numpy.asarray(POINTS))
        (grad,) = pullback(jax.numpy.asarray(COTANGENT))
        check(kind, np.asarray(y), np.asarray(grad))


def test_hard_sigmoid_slope_is_torchs_float32_constant() -> None:
    """PyTorch's hardsigmoid backward multiplies by 1.0f / 6.0f even in float64."""
    _, grad = oracle("hard_sigmoid")
    inside = (POINTS > -3) & (POINTS < 3)
    slope = float(np.float32(1 / 6))
    assert slope != 1 / 6
    np.testing.assert_array_equal(grad[inside], COTANGENT[inside] * slope)
    _, cache = NUMPY_LOWERINGS["hard_sigmoid"].fn(POINTS.copy())
    ours = NUMPY_LOWERINGS["hard_sigmoid"].backward(COTANGENT.copy(), cache)  # type: ignore[misc]
    np.testing.assert_array_equal(ours, grad)
