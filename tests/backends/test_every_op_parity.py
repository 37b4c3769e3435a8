"""The three backends agree on the every-op specs of the code generator's tests, in
float64 (activations to 1e-10, gradients to 1e-9, relative to max(|value|, 1)) and in
float32 (activations to 1e-5, gradients to 1e-4), in evaluation mode, where dropout draws
no mask and every gradient is compared."""

from __future__ import annotations

import ast

import pytest

import netspec
from netspec.parity import run_parity
from tests.backends.conftest import AVAILABLE
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    len(AVAILABLE) < 2, reason="parity needs at least two backends installed"
)


def every_op_spec(path: str) -> str:
    """The ALL_OPS string constant of a test module, read without importing it."""
    tree = ast.parse((ROOT / path).read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ALL_OPS":
            assert isinstance(node.value, ast.Constant)
            return str(node.value.value)
    raise AssertionError(f"{path} has no ALL_OPS spec")


@pytest.mark.parametrize("name", ["all_ops", "index_ops"])
@pytest.mark.parametrize(
    "path", ["tests/codegen/test_generated.py", "tests/codegen/test_numpy_codegen.py"]
)
def test_backends_agree_on_every_op(path: str, name: str) -> None:
    """Float inputs and, in ``index_ops``, integer indices (random valid rows)."""
    model = netspec.load(every_op_spec(path)).model(name)
    report = run_parity(model, AVAILABLE, dtype="float64", batch=3, seed=7, train=False)
    assert report.ok, report.render()
    assert {row.kind for row in report.rows} >= {"activation", "gradient"}


@pytest.mark.parametrize("name", ["all_ops", "index_ops"])
@pytest.mark.parametrize(
    "path", ["tests/codegen/test_generated.py", "tests/codegen/test_numpy_codegen.py"]
)
def test_backends_agree_on_every_op_in_float32(path: str, name: str) -> None:
    """Every op in float32: activations to 1e-5, gradients to 1e-4."""
    model = netspec.load(every_op_spec(path)).model(name)
    report = run_parity(model, AVAILABLE, dtype="float32", batch=3, seed=7, train=False)
    assert report.ok, report.render()
    assert {row.kind for row in report.rows} >= {"activation", "gradient"}
