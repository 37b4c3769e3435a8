"""Models for the JAX backend tests: the project's specs, and small hand-built ones.

Hand-built models are IR ``Model`` objects run through the project's own checker
(``netspec.check.checker.check_model``), so the backend sees exactly the checked IR it
will receive from a spec: resolved paddings, param and state specs named as in files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import netspec
from netspec.check.checker import check_model
from netspec.diagnostics import Diagnostics
from netspec.ir import CheckedModel, Input, Model, Node
from netspec.ir import ops as ir

SPECS = Path(__file__).resolve().parents[2] / "specs"


def spec_model(file: str, name: str | None = None) -> CheckedModel:
    """A model of one of the project's specs, e.g. ``spec_model("lenet5.net")``."""
    return netspec.load(SPECS / file).model(name)


@dataclass(frozen=True)
class Layer:
    """A node to build; no ``inputs`` means the previous layer (or the model input)."""

    name: str
    op: ir.Op
    inputs: tuple[str, ...] = ()


def checked(shape: tuple[int, ...], layers: Sequence[Layer]) -> CheckedModel:
    """A checked model on input ``x`` of per-sample ``shape``; the last layer is the output."""
    nodes, previous = [], "x"
    for layer in layers:
        nodes.append(Node(name=layer.name, op=layer.op, inputs=layer.inputs or (previous,)))
        previous = layer.name
    model = Model(name="m", input=Input(name="x", shape=shape), nodes=tuple(nodes), output=previous)
    diagnostics = Diagnostics()
    result = check_model(model, {}, diagnostics)
    if result is None:
        raise AssertionError(f"the test model does not check: {diagnostics.items}")
    return result


def random_params(model: CheckedModel, seed: int = 0) -> dict[str, np.ndarray]:
    """Float64 values for every param (biases not zero, so they matter) and the state."""
    rng = np.random.default_rng(seed)
    values = {spec.name: rng.normal(0.0, 0.5, spec.shape) for spec in model.params}
    for spec in model.state:
        base = rng.normal(0.0, 0.3, spec.shape)
        values[spec.name] = np.exp(base) if spec.attr == "running_var" else base
    return values


def inline(shape: tuple[int, ...], body: str) -> CheckedModel:
    """A one-model spec written in place: ``inline((4,), "dense(3) -> relu")``."""
    dims = ", ".join(str(d) for d in shape)
    return netspec.load(f"netspec 1\nmodel m(x: [{dims}]) {{\n{body}\n}}\n").model()
