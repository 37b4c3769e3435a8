"""The standardize node on every backend: (x - mean) / std with fixed statistics, its
input gradient, and statistics that training never moves."""

from __future__ import annotations

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.ir.train import MeanSquaredError, Sgd
from tests.backends.conftest import backend_params

SPEC = """\
netspec 1

model m(x: [3]) {
    dense(4) -> tanh
    dense(2)
}

train m {
    data csv(path = "data.csv", target = "y")
    loss mse
    optimizer sgd(lr = 0.1)
}
"""

MEAN = np.array([100.0, -3.0, 0.5])
STD = np.array([20.0, 0.25, 1.0])


@pytest.mark.parametrize("name", backend_params())
def test_standardize_forward_gradient_and_fixed_statistics(name: str) -> None:
    model = netspec.load(SPEC).model()
    assert model.nodes[0].name == "standardize" and model.nodes[1].inputs == ("standardize",)
    compiled = get_backend(name).compile(model, dtype="float64", seed=0)
    compiled.set_parameters({"standardize.mean": MEAN, "standardize.std": STD})
    x = np.random.default_rng(0).normal(MEAN, STD, size=(5, 3))
    np.testing.assert_allclose(compiled.trace(x)["standardize"], (x - MEAN) / STD, rtol=1e-12)

    # The input gradient is the first dense layer's, divided by std.
    y = np.zeros((5, 2))
    _, grads = compiled.loss_and_grads(x, y, MeanSquaredError(), train=False, input_grad=True)
    reference = get_backend("numpy").compile(model, dtype="float64", seed=0)
    _, through = reference.loss_and_grads(
        (x - MEAN) / STD, y, MeanSquaredError(), train=False, input_grad=True
    )
    np.testing.assert_allclose(grads["x"], through["x"] / STD, rtol=1e-10)
    assert "standardize.mean" not in grads and "standardize.std" not in grads

    step = compiled.train_step(MeanSquaredError(), Sgd(lr=0.1))
    before = compiled.parameters()
    step.step(x, y, 0.1)
    step.drain()
    state = compiled.state()
    np.testing.assert_array_equal(state["standardize.mean"], MEAN)
    np.testing.assert_array_equal(state["standardize.std"], STD)
    assert not np.array_equal(compiled.parameters()["dense_1.weight"], before["dense_1.weight"])
