"""Generated code for a model of several inputs takes them as keyword arguments (its
outputs are compared with the backends' in test_generated.py, case two_inputs)."""

from __future__ import annotations

import ast

import pytest

import netspec
from netspec.codegen import TARGETS, generate
from tests.conftest import TWO_INPUTS

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
