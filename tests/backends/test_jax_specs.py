"""Every model of the project's specs compiles and runs on the JAX backend.

vgg11 is left out: its 133 million weights take over a gigabyte to draw in float64 and
half a minute to compile, and it uses no op that the others do not (resnet18 covers
ImageNet-size convolutions and runs as a slow test).

A training-mode trace gives every node's output with the shape the checker inferred, all
finite. (Eval mode, and gradients of every op are held to PyTorch in
test_jax_ops.py; whole networks train in test_jax_model.py and test_jax_train.py.)
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")

from test_jax_support import SPECS  # noqa: E402

import netspec  # noqa: E402
from netspec.backends.jax import BACKEND  # noqa: E402

SLOW = {"resnet18"}  # 11.7 million weights at 224 x 224: seconds to draw and compile
LEFT_OUT = {"vgg11"}


def spec_models() -> list:
    cases = []
    for path in sorted(SPECS.glob("*.net")):
        program = netspec.load(path)
        for model in program.models:
            if model.name in LEFT_OUT:
                continue
            marks = [pytest.mark.slow] if model.name in SLOW else []
            cases.append(pytest.param(path.name, model.name, marks=marks, id=model.name))
    return cases


@pytest.mark.parametrize(("file", "name"), spec_models())
def test_spec_model_runs(file: str, name: str) -> None:
    model = netspec.load(SPECS / file).model(name)
    compiled = BACKEND.compile(model, seed=0)
    x = np.random.default_rng(0).normal(size=(2, *model.input.shape))
    # Training mode: dropout draws, batchnorm uses and updates batch statistics.
    trace = compiled.trace(x, train=True)
    assert list(trace) == [node.name for node in model.nodes]
    for node in model.nodes:
        assert trace[node.name].shape == (2, *node.output.shape), node.name
        assert np.all(np.isfinite(trace[node.name])), node.name
