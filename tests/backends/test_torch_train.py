"""The torch backend's optimizer restarted by an empty state at step 0.

The train step itself, its statistics and its saved state are tested on every backend
against the NumPy backend in test_contract.py and test_contract_training.py.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")

import netspec  # noqa: E402
from netspec.backends.torch import BACKEND  # noqa: E402
from netspec.ir import CheckedModel  # noqa: E402
from netspec.ir.train import (  # noqa: E402
    Adagrad,
    Adam,
    OptimizerSpec,
    SoftmaxCrossEntropy,
)

STEPS = 20
MLP = """dense(6, regularize = [l2(0.01), max_norm(0.9)]) -> tanh
    dense(3, regularize = l1(0.002))"""


def model_of(shape: tuple[int, ...], body: str) -> CheckedModel:
    return netspec.load(f"netspec 1\nmodel m(x: {list(shape)}) {{\n{body}\n}}\n").model()


def batches(shape: tuple[int, ...], steps: int = STEPS) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(rng.standard_normal((8, *shape)), rng.integers(0, 3, 8)) for _ in range(steps)]


@pytest.mark.parametrize("spec", [Adagrad(lr=0.05), Adam(lr=0.01)], ids=lambda s: s.kind)
def test_an_empty_state_at_step_zero_restarts_the_optimizer(spec: OptimizerSpec) -> None:
    model = model_of((4,), MLP)
    data = batches((4,), 4)
    fresh = BACKEND.compile(model, dtype="float64")
    fresh_step = fresh.train_step(SoftmaxCrossEntropy(), spec)
    reloaded = BACKEND.compile(model, dtype="float64")
    reloaded_step = reloaded.train_step(SoftmaxCrossEntropy(), spec)
    reloaded_step.step(*data[0], spec.lr)
    reloaded.set_parameters(fresh.parameters())
    reloaded_step.load_optimizer_state({"step": np.array(0)})
    for x, t in data:
        fresh_step.step(x, t, spec.lr)
        reloaded_step.step(x, t, spec.lr)
    for name, value in fresh.parameters().items():
        np.testing.assert_array_equal(reloaded.parameters()[name], value, err_msg=name)
