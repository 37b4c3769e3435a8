"""Models and numerical helpers for the NumPy backend tests, and tests of the helpers.

Models are built as IR ``Model`` objects and run through the project's own checker
(``netspec.check.checker.check_model``), so the backend is tested on the checked IR that
it will really receive: resolved paddings, parameter and state specs named as in files.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from netspec.backends.numpy import BACKEND, NumpyModel
from netspec.check.checker import check_model
from netspec.diagnostics import Diagnostics
from netspec.ir import CheckedModel, Input, Model, Node
from netspec.ir import ops as ir

Step = ir.Op | tuple[str, ir.Op, tuple[str, ...]]


def build(
    shape: tuple[int, ...], *steps: Step, output: str | None = None, name: str = "m"
) -> CheckedModel:
    """A checked model on input ``x`` of per-sample ``shape``.

    A bare op consumes the previous step's output and is named ``n<i>``; a tuple
    ``(name, op, inputs)`` names its node and its inputs (DAGs). The last step is the
    output unless ``output`` names another node.
    """
    nodes: list[Node] = []
    previous = "x"
    for index, step in enumerate(steps):
        if isinstance(step, tuple):
            node_name, op, inputs = step
        else:
            node_name, op, inputs = f"n{index}", step, (previous,)
        nodes.append(Node(name=node_name, op=op, inputs=inputs))
        previous = node_name
    model = Model(
        name=name,
        input=Input(name="x", shape=shape),
        nodes=tuple(nodes),
        output=output or previous,
    )
    diagnostics = Diagnostics()
    checked = check_model(model, {}, diagnostics)
    if checked is None:
        raise AssertionError(f"the test model does not check: {diagnostics.items}")
    return checked


def compile64(model: CheckedModel, seed: int = 0) -> NumpyModel:
    """The model compiled in float64, for gradient checks."""
    return BACKEND.compile(model, dtype="float64", seed=seed)


def numeric_grad(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of ``f`` with respect to every element of ``array`` (in place)."""
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = f()
        flat[i] = saved - eps
        minus = f()
        flat[i] = saved
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def assert_close(name: str, got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> None:
    """``np.testing.assert_allclose`` with the name of what differed in the message."""
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{name} differs")


def shapes_of(values: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {name: value.shape for name, value in values.items()}


def test_numeric_grad_of_a_known_function() -> None:
    a = np.array([0.5, -1.25, 2.0])
    grad = numeric_grad(lambda: float(np.sum(a**3)), a)
    assert_close("d/da sum a^3", grad, 3 * a**2, rtol=1e-8, atol=1e-9)
