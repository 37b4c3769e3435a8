"""Shared by the ONNX export tests: the cases, trained-looking weights, a runner."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import netspec
from netspec.initializers import initial_params
from netspec.ir import CheckedModel, Program
from netspec.ir.graph import INDEX_DTYPES

ROOT = Path(__file__).resolve().parents[2]

# Each test module skips, saying why, where these are absent (pip install netspec[onnx]).
ONNX_MISSING = "onnx is not installed (pip install netspec[onnx])"
ORT_MISSING = "onnxruntime is not installed (pip install netspec[onnx])"

# onnxruntime's CPU kernels that exist for float only (at the default opset 18; LSTM and
# GRU say so when they run): a float64 graph holding one cannot run there, and its
# float64 check is skipped, naming it.
FLOAT_ONLY = {"Conv", "ConvTranspose", "AveragePool", "Erf", "RNN", "LSTM", "GRU"}
NOT_IMPLEMENTED = re.compile(
    r"Could not find an implementation for (\w+)\(|(\w+) operator does not support double"
)


@dataclass(frozen=True)
class Case:
    """One model of one spec: a file of specs/ or an every-op spec text."""

    id: str
    spec: str  # a path, or spec text
    model: str

    def program(self) -> Program:
        return netspec.load(self.spec if "\n" in self.spec else Path(self.spec))


def trained_looking(model: CheckedModel, dtype: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights that no initializer gives: netspec's initial ones moved by noise of their
    own scale (constants get some too), running statistics and standardisation away
    from 0 and 1, so that every array really matters in the comparison."""
    values = initial_params(model, seed, "float64")
    rng = np.random.default_rng(seed + 1)
    for spec in model.params:
        value = values[spec.name]
        scale = float(value.std()) if value.size > 1 and value.std() > 0 else 0.1
        values[spec.name] = value + rng.normal(0.0, 0.5 * scale, size=value.shape)
    for state in model.state:
        if state.attr in ("running_mean", "mean"):
            values[state.name] = rng.normal(0.0, 0.5, size=state.shape)
        else:
            values[state.name] = rng.uniform(0.5, 2.0, size=state.shape)
    return {name: value.astype(dtype) for name, value in values.items()}


def batch(model: CheckedModel, size: int, dtype: str, seed: int = 0) -> np.ndarray:
    """A batch for a model of one input."""
    return feeds(model, size, dtype, seed)[model.input.name]


def feeds(model: CheckedModel, size: int, dtype: str, seed: int = 0) -> dict[str, np.ndarray]:
    """A batch of ``size`` samples for every input, by name (onnxruntime's feeds, and what
    the NumPy backend's ``forward`` and ``trace`` take)."""
    rng = np.random.default_rng(seed)
    # Indices within the smallest embedding table of the model.
    rows = min((n.op.num for n in model.nodes if n.op.kind == "embedding"), default=1)
    return {
        spec.name: rng.integers(0, rows, size=(size, *spec.shape)).astype(spec.dtype)
        if spec.dtype in INDEX_DTYPES
        else rng.normal(size=(size, *spec.shape)).astype(dtype)
        for spec in model.inputs
    }


def session(proto: Any, outputs: list[str] | None = None) -> Any:
    """An onnxruntime session of ``proto``, with ``outputs`` (tensor names) as extra graph
    outputs so that every node's value can be compared, not only the model's output."""
    import onnx
    import onnxruntime as ort

    if outputs:
        proto = onnx.ModelProto.FromString(proto.SerializeToString())
        known = {o.name for o in proto.graph.output}
        for name in outputs:
            if name not in known:
                proto.graph.output.append(onnx.ValueInfoProto(name=name))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def float_only_kernel(error: Exception) -> str | None:
    """The ONNX op named by onnxruntime's "no implementation" error, when it is one of
    its float-only kernels; None for any other error (which must fail the test)."""
    found = NOT_IMPLEMENTED.search(str(error))
    kernel = found and (found.group(1) or found.group(2))
    return kernel if kernel in FLOAT_ONLY else None
