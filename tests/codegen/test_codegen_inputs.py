"""Generated code for a model of several inputs takes them as keyword arguments (its
outputs are compared with the backends' in test_generated.py, cases two_inputs and
mixed_inputs); the generated NumPy backward of a model mixing integer and float inputs
gives the backends' gradients."""

from __future__ import annotations

import ast
import types

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.codegen import TARGETS, generate
from tests.backends.conftest import backend_params
from tests.conftest import MIXED_INPUTS, TWO_INPUTS, mixed_input_samples

# The function of each target that takes the batch, and the arguments before the inputs.
ENTRY = {
    "torch": ("forward", ["self"]),
    "jax": ("apply", ["params"]),
    "numpy": ("forward", ["self"]),
}


@pytest.mark.parametrize("target", TARGETS)
def test_the_inputs_are_keyword_only_arguments_named_after_them(target: str) -> None:
    source = generate(netspec.load(TWO_INPUTS), target, source_file="two_inputs.net")
    name, leading = ENTRY[target]
    (function,) = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    assert [a.arg for a in function.args.args] == leading
    assert [a.arg for a in function.args.kwonlyargs][:2] == ["image", "extra"]
    # No default: leaving an input out is Python's own TypeError, naming it.
    assert function.args.kw_defaults[:2] == [None, None]


@pytest.mark.parametrize("target", TARGETS)
def test_a_model_of_one_input_keeps_its_positional_argument(target: str) -> None:
    source = generate(netspec.load("model m(x: [3]) { dense(2) }"), target, source_file="m.net")
    name, leading = ENTRY[target]
    (function,) = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    assert [a.arg for a in function.args.args][: len(leading) + 1] == [*leading, "x"]
    assert function.args.kwonlyargs == []


@pytest.mark.parametrize("backend", backend_params())
def test_generated_numpy_backward_skips_only_the_integer_input(backend: str) -> None:
    program = netspec.load(MIXED_INPUTS)
    module = types.ModuleType("generated_mixed_inputs")
    exec(generate(program, "numpy", source_file="mixed.net"), module.__dict__)
    compiled = get_backend(backend).compile(program.model(), dtype="float64", seed=4)
    weights = {**compiled.parameters(), **compiled.state()}
    generated = module.MixedInputs(weights, dtype="float64")
    x, _ = mixed_input_samples(5, seed=3)
    t = np.random.default_rng(8).normal(size=(5, 3))
    y = generated.forward(**x)
    np.testing.assert_allclose(y, compiled.forward(x), rtol=1e-10, atol=1e-12)
    # mse is the mean of the squared errors: dL/dy = 2 (y - t) / size.
    grads, dxs = generated.backward((y - t) * (2.0 / y.size))
    _, expected = compiled.loss_and_grads(x, t, "mse", train=False, input_grad=True)
    assert set(dxs) == {"tokens", "extra"} and dxs["tokens"] is None
    np.testing.assert_allclose(dxs["extra"], expected.pop("extra"), rtol=1e-9, atol=1e-12)
    assert set(grads) == set(expected)
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, expected[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_generated_numpy_checks_the_integer_input_by_name() -> None:
    module = types.ModuleType("generated_mixed_checks")
    source = generate(netspec.load(MIXED_INPUTS), "numpy", source_file="mixed.net")
    exec(source, module.__dict__)
    model = module.MixedInputs(seed=0, dtype="float64")
    x, _ = mixed_input_samples(2, seed=0)
    with pytest.raises(ValueError, match="expects integer indices for input tokens"):
        model.forward(tokens=x["tokens"].astype(np.float64), extra=x["extra"])
    with pytest.raises(ValueError, match=r"takes indices 0\.\.9 for input tokens, got 0\.\.10"):
        model.forward(tokens=np.where(x["tokens"] == x["tokens"].max(), 10, 0), extra=x["extra"])
