"""What only the JAX backend does: precision without the global x64 flag, device
names, and one jit trace per shape.

The compiled model's contract (dtypes, parameters, state, trace, dropout, errors) is
tested on every backend in test_contract.py and test_contract_model.py.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")

from test_jax_support import inline, random_params  # noqa: E402

from netspec.backends.jax import BACKEND, build_apply, precision_scope  # noqa: E402
from netspec.ir import CheckedModel  # noqa: E402
from netspec.ir.train import SoftmaxCrossEntropy  # noqa: E402

# -- precision ---------------------------------------------------------------------------

# Small, but with every kind of state and randomness: conv, batchnorm, pool, dropout.
SMALL_CNN = "conv2d(2, 3) -> batchnorm -> relu -> maxpool(2) -> flatten -> dropout(0.5) -> dense(3)"


def small_cnn() -> CheckedModel:
    return inline((1, 8, 8), SMALL_CNN)


def images(n: int, seed: int = 0, size: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 1, size, size))


def test_float64_leaves_the_global_x64_flag_alone() -> None:
    before = jax.config.jax_enable_x64
    compiled = BACKEND.compile(small_cnn(), dtype="float64")
    x = images(2)
    compiled.forward(x, train=True)
    compiled.trace(x)
    compiled.loss_and_grads(x, np.array([1, 2]), SoftmaxCrossEntropy())
    compiled.set_parameters(compiled.parameters())
    compiled.seed(5)
    assert jax.config.jax_enable_x64 == before
    # And JAX outside the model still makes float32 by default.
    assert jax.numpy.ones(1).dtype == (np.float64 if before else np.float32)


def test_float32_model_ignores_a_callers_x64() -> None:
    model = small_cnn()
    values, x = random_params(model), images(2, seed=1)
    plain = BACKEND.compile(model, params=values).forward(x)
    with jax.enable_x64(True):
        inside = BACKEND.compile(model, params=values).forward(x)
        assert jax.config.jax_enable_x64
    assert inside.dtype == np.float32
    np.testing.assert_array_equal(inside, plain)


def test_pure_apply_in_a_float64_scope() -> None:
    model = inline((3,), "dense(4) -> tanh -> dense(2)")
    values = random_params(model)
    x = np.random.default_rng(2).normal(size=(5, 3))
    with precision_scope("float64"):
        out, state = build_apply(model)(values, {}, x, train=False)
        assert out.dtype == np.float64 and state == {}
    expected = BACKEND.compile(model, dtype="float64", params=values).forward(x)
    np.testing.assert_array_equal(np.asarray(out), expected)


# -- devices ------------------------------------------------------------------------

SMALL = "dense(3)"


def test_jit_traces_once_per_shape() -> None:
    compiled = BACKEND.compile(inline((4,), "dense(8) -> relu -> dense(2)"))
    for batch in (5, 5, 5, 7, 7):
        compiled.forward(np.zeros((batch, 4), dtype=np.float32))
        compiled.loss_and_grads(
            np.zeros((batch, 4)), np.zeros(batch, dtype=int), SoftmaxCrossEntropy()
        )
    programs = compiled._programs
    assert programs.forward(False, False)._cache_size() == 2
    assert programs.step(SoftmaxCrossEntropy(), True, False)._cache_size() == 2
