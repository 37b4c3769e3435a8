"""20 steps of every optimizer (with l2 / l1 / max_norm, clipping and a schedule) give the
same weights on every backend in float64 (to 1e-8)."""

from __future__ import annotations

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.initializers import initial_params
from netspec.ir.train import ClipSpec, CosineSchedule, OptimizerSpec
from netspec.training.schedule import learning_rate
from tests.backends.conftest import AVAILABLE

SPEC = """
netspec 1
model net(x: [20]) {
    dense(16, regularize = [l2(1e-2), max_norm(0.9)]) -> batchnorm -> relu
    dense(12, regularize = l1(1e-3)) -> tanh
    dense(3, regularize = l2(5e-3))
}
"""

OPTIMIZERS = {
    "sgd": {"kind": "sgd", "lr": 0.05},
    "momentum": {"kind": "sgd", "lr": 0.05, "momentum": 0.9, "dampening": 0.1},
    "nesterov": {"kind": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True},
    "adagrad": {"kind": "adagrad", "lr": 0.05, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
    "rmsprop": {"kind": "rmsprop", "lr": 0.01, "momentum": 0.5, "centered": True},
    "adam": {"kind": "adam", "lr": 0.01},
    "amsgrad": {"kind": "adam", "lr": 0.01, "amsgrad": True},
    "adamw": {"kind": "adamw", "lr": 0.01, "weight_decay": 0.05},
}

CLIPS = {
    "none": None,
    "norm": ClipSpec(by="norm", threshold=0.5),
    "value": ClipSpec(by="value", threshold=0.05),
}


def _train(backend: str, optimizer: OptimizerSpec, clip: ClipSpec | None) -> dict[str, np.ndarray]:
    model = netspec.load(SPEC).model()
    params = initial_params(model, seed=5, dtype="float64")
    compiled = get_backend(backend).compile(model, dtype="float64", params=params)
    from netspec.ir.train import SoftmaxCrossEntropy

    step = compiled.train_step(SoftmaxCrossEntropy(), optimizer, clip)
    rng = np.random.default_rng(11)
    schedule = CosineSchedule(t_max=4, warmup=1)
    for index in range(20):
        x = rng.standard_normal((6, 20))
        y = rng.integers(0, 3, size=6)
        step.step(x, y, learning_rate(schedule, optimizer.lr, index // 5))
    stats = step.drain()
    assert stats.samples == 120 and stats.first_nonfinite == -1
    return {**compiled.parameters(), **compiled.state()}


# Every optimizer without clipping, and both kinds of clipping with two optimizers: the
# clipping code is shared by all optimizers within a backend.
CASES = [(name, "none") for name in sorted(OPTIMIZERS)] + [
    ("adam", "norm"),
    ("adam", "value"),
    ("momentum", "norm"),
    ("momentum", "value"),
]


@pytest.mark.skipif(len(AVAILABLE) < 2, reason="needs at least two backends installed")
@pytest.mark.parametrize(("name", "clip"), CASES)
def test_twenty_steps_agree_across_backends(name: str, clip: str) -> None:
    from pydantic import TypeAdapter

    optimizer = TypeAdapter(OptimizerSpec).validate_python(OPTIMIZERS[name])
    results = {backend: _train(backend, optimizer, CLIPS[clip]) for backend in AVAILABLE}
    reference = results[AVAILABLE[0]]
    for backend in AVAILABLE[1:]:
        for key, value in reference.items():
            np.testing.assert_allclose(
                results[backend][key],
                value,
                rtol=1e-8,
                atol=1e-8,
                err_msg=f"{name}/{clip}: {key} differs between {AVAILABLE[0]} and {backend}",
            )
