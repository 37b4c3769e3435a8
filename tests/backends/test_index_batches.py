"""Batches for an integer input, on every backend: kept integer, and checked once where
they enter (netspec._contract), so that an index outside an embedding's table is the
same error, with the same message, on numpy, torch and jax, at a forward, a gradient
and a training step."""

from __future__ import annotations

import numpy as np
import pytest

import netspec
from netspec._contract import check_batch
from netspec.backend import Backend, get_backend
from netspec.errors import NetspecError, ShapeError
from tests.backends.conftest import backend_params

# The input reaches the 64-row table through a slice, and a second, smaller table.
SPEC = """
model lm(x: int64[6]) {
    a = x -> slice(0, 0, 4) -> embedding(64, 3) -> flatten
    b = x -> embedding(80, 2, padding_idx = 0) -> flatten
    concat(a, b) -> dense(2)
}
"""
MODEL = netspec.load(SPEC).model()


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> Backend:
    return get_backend(request.param)


def _indices(top: int = 64) -> np.ndarray:
    return np.random.default_rng(0).integers(0, top, size=(5, 6))


def test_an_integer_batch_stays_integer() -> None:
    assert check_batch(MODEL, _indices().astype(np.int16), "float32").dtype == np.int64
    int32 = netspec.load("model m(x: int32[3]) { embedding(4, 2) }").model()
    assert check_batch(int32, np.array([[0, 1, 3]]), "float64").dtype == np.int32


@pytest.mark.parametrize(
    ("bad", "sample", "step"),
    [(65, 3, 2), (-1, 0, 5), (64, 4, 0)],
    ids=["above", "negative", "edge"],
)
def test_an_index_outside_the_table_is_one_error_on_every_backend(
    backend: Backend, bad: int, sample: int, step: int
) -> None:
    x = _indices()
    x[sample, step] = bad
    compiled = backend.compile(MODEL, dtype="float64")
    message = (
        f"input 'x' holds index {bad} at sample {sample}, but embedding 'embedding_1' takes 0..63"
    )
    y = np.zeros((5,), dtype=np.int64)
    for call in (
        lambda: compiled.forward(x),
        lambda: compiled.loss_and_grads(x, y, "softmax_cross_entropy"),
    ):
        with pytest.raises(ShapeError) as info:
            call()
        assert info.value.message == message
        assert "embedding_1 has 64 rows" in " ".join(info.value.help)


def test_the_smallest_table_bounds_the_input(backend: Backend) -> None:
    x = _indices()
    compiled = backend.compile(MODEL, dtype="float64")
    assert compiled.forward(x).shape == (5, 2)  # every index below 64
    x[1, 5] = 70  # a row of the 80-row table, not of the 64-row one
    with pytest.raises(ShapeError, match="holds index 70 at sample 1, but embedding 'embedding_1'"):
        compiled.forward(x)


def test_a_float_batch_for_an_integer_input_is_refused(backend: Backend) -> None:
    compiled = backend.compile(MODEL)
    with pytest.raises(ShapeError) as info:
        compiled.forward(_indices().astype(np.float32))
    assert info.value.message == (
        "batch for input 'x' has dtype float32, expected integer indices (int64)"
    )


@pytest.mark.parametrize("name", ["numpy", "torch", "jax"])
def test_an_index_out_of_range_stops_training_with_the_same_error(name: str) -> None:
    pytest.importorskip(name, reason=f"{name} is not installed (pip install netspec[{name}])")
    x = _indices()
    x[3, 1] = 65
    y = np.zeros(5, dtype=np.int64)
    spec = (
        SPEC
        + """
    train lm {
        data npz(path = "unused.npz", test = 0)
        loss softmax_cross_entropy
        optimizer sgd(lr = 0.1)
        batch_size 5
        epochs 1
    }
    """
    )
    with pytest.raises(NetspecError) as info:
        netspec.train(spec, backend=name, data=(x, y), progress=False)
    assert info.value.message == (
        "input 'x' holds index 65 at sample 3 of the train split, but embedding "
        "'embedding_1' takes 0..63"
    )


@pytest.mark.parametrize("name", ["numpy", "torch", "jax"])
def test_netspec_compile_takes_integer_batches(name: str) -> None:
    pytest.importorskip(name, reason=f"{name} is not installed (pip install netspec[{name}])")
    spec = "model m(x: int64[3]) { embedding(5, 2, padding_idx = 0) }"
    weights = np.arange(10.0).reshape(5, 2)
    x = np.array([[0, 1, 4], [3, 3, 2]])
    compiled = netspec.compile(spec, name, dtype="float64", params={"embedding_1.weight": weights})
    if name == "numpy":
        out = compiled.forward(x)
    elif name == "torch":
        import torch

        out = compiled(torch.from_numpy(x)).detach().numpy()
    else:
        import jax

        init, apply = compiled
        out = np.asarray(apply(init(), x)[0])
        # Inside jit the batch is traced: integers pass, unchecked.
        jitted = jax.jit(lambda params, batch: apply(params, batch)[0])
        np.testing.assert_array_equal(np.asarray(jitted(init(), x)), out)
        with pytest.raises(ShapeError, match="holds index 5 at sample 0"):
            apply(init(), x + 1)
        with pytest.raises(ShapeError, match="expected integer indices"):
            apply(init(), x.astype(np.float32))
    np.testing.assert_array_equal(out, weights[x])
