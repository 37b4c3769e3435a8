"""Golden values from the seed material, on every backend."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.ir.train import MeanSquaredError
from tests.backends.conftest import backend_params
from tests.conftest import ROOT


def _compile(stem: str, backend: str, model: str | None = None, dtype: str = "float64"):  # type: ignore[no-untyped-def]
    checked = netspec.load(ROOT / "specs" / f"{stem}.net").model(model)
    return get_backend(backend).compile(checked, dtype=dtype)


@pytest.mark.parametrize("backend", backend_params())
def test_relu_worked_example_gives_46_0(backend: str) -> None:
    compiled = _compile("relu_worked_example", backend)
    out = compiled.forward(np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(out, [[46.0, 0.0]])


@pytest.mark.parametrize("backend", backend_params())
def test_integer_batches_are_cast_to_the_model_dtype(backend: str) -> None:
    compiled = _compile("relu_worked_example", backend, dtype="float32")
    out = compiled.forward(np.array([[3, 4]], dtype=np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[46.0, 0.0]])


@pytest.mark.parametrize("backend", backend_params())
def test_sigmoid_worked_example(backend: str) -> None:
    compiled = _compile("sigmoid_worked_example", backend)
    out = compiled.forward(np.array([[1.0, 0.5]]))
    np.testing.assert_allclose(np.round(out, 4), [[0.3168, 0.6963]], atol=0)
    # The same values to the eight digits float64 gives them.
    np.testing.assert_allclose(out, [[0.31682708, 0.69627909]], rtol=1e-7)


GATES = {
    "and_gate": lambda a, b: a and b,
    "nand_gate": lambda a, b: not (a and b),
    "or_gate": lambda a, b: a or b,
    "xor_gate": lambda a, b: a != b,
}


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("gate", sorted(GATES))
def test_logic_gate_truth_tables(backend: str, gate: str) -> None:
    compiled = _compile("logic_gates", backend, gate)
    inputs = np.array(list(itertools.product((0.0, 1.0), repeat=2)))
    expected = np.array([[float(GATES[gate](bool(a), bool(b)))] for a, b in inputs])
    np.testing.assert_array_equal(compiled.forward(inputs), expected)
    # The gates are built of steps, which pass no gradient: none reaches any weight.
    loss, grads = compiled.loss_and_grads(inputs, np.full((4, 1), 0.5), MeanSquaredError())
    assert loss == pytest.approx(0.25)
    assert not any(np.any(g) for g in grads.values())
