"""`netspec inspect`: activation statistics and gradient norms against hand computations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.cli import main
from netspec.commands._batch import Batch
from netspec.commands.inspect import node_stats, run_inspect
from netspec.initializers import initial_params
from netspec.ir.train import SoftmaxCrossEntropy
from tests.backends.conftest import backend_params
from tests.conftest import ROOT

# relu(W x + b) with W = [[1, 0], [0, 1], [1, -1]], b = [0, -1, 0].
TINY = """netspec 1
model tiny(x: [2]) {
    dense(3, weight = [[1, 0], [0, 1], [1, -1]], bias = [0, -1, 0]) -> relu
}
"""
X = np.array([[1.0, 0.5], [3.0, -1.0], [-2.0, 0.0], [0.0, 1.0]])
Y = np.array([0, 2, 1, 0])
# By hand: W x + b per sample, then the ReLU.
DENSE = [[1.0, -0.5, 0.5], [3.0, -2.0, 4.0], [-2.0, -1.0, -2.0], [0.0, 0.0, -1.0]]
RELU = [[1.0, 0.0, 0.5], [3.0, 0.0, 4.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("backend", backend_params())
def test_statistics_of_a_tiny_dense_layer_by_hand(backend: str) -> None:
    model = netspec.load(TINY).model()
    batch = Batch({"x": X}, Y, SoftmaxCrossEntropy(), "hand")
    result = run_inspect(model, backend, batch, dtype="float64")
    dense, relu = result.nodes
    # The dense outputs sum to 1 + 5 - 5 - 1 = 0 over 12 values.
    assert dense.mean == pytest.approx(0.0, abs=1e-12)
    assert (dense.min, dense.max) == (-2.0, 4.0)
    assert dense.dead is None and dense.saturated is None
    # ReLU: values 1, 0.5, 3, 4 and eight zeros; unit 1 is 0 on every sample.
    mean = 8.5 / 12
    squares = (1 + 0.25 + 9 + 16) / 12
    assert relu.mean == pytest.approx(mean, rel=1e-12)
    assert relu.std == pytest.approx(np.sqrt(squares - mean**2), rel=1e-12)
    assert relu.dead == pytest.approx(8 / 12) and relu.dead_units == pytest.approx(1 / 3)
    assert relu.shape == (3,)
    assert np.array_equal(result.values["relu_1"], np.array(RELU))
    assert np.allclose(result.values["dense_1"], np.array(DENSE), rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", backend_params())
def test_gradient_norms_equal_a_direct_computation(backend: str) -> None:
    model = netspec.load(TINY).model()
    batch = Batch({"x": X}, Y, SoftmaxCrossEntropy(), "hand")
    result = run_inspect(model, backend, batch, dtype="float64")
    # Softmax cross-entropy over the ReLU's outputs, backward by hand.
    out = np.array(RELU)
    p = np.exp(out - out.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dout = (p - np.eye(3)[Y]) / len(Y)
    dpre = dout * (np.array(DENSE) > 0)
    expected = {"dense_1.weight": dpre.T @ X, "dense_1.bias": dpre.sum(axis=0)}
    norms = {g.name: g.grad_norm for g in result.grads}
    for name, grad in expected.items():
        assert norms[name] == pytest.approx(float(np.linalg.norm(grad)), rel=1e-12)
    assert result.loss == pytest.approx(-np.mean(np.log(p[np.arange(4), Y])), rel=1e-12)
    weight = next(g for g in result.grads if g.name == "dense_1.weight")
    assert weight.weight_norm == pytest.approx(np.sqrt(4.0))


@pytest.mark.parametrize(
    ("op", "values", "saturated"),
    [
        # sigmoid(-10) = 4.5e-5 and sigmoid(5) = 0.9933 are within 0.01 of 0 and 1.
        ("sigmoid", 1 / (1 + np.exp(-np.array([[-10.0, 0.0], [5.0, 0.1]]))), 0.5),
        # tanh(3) = 0.99505 is within 0.01 of 1; tanh(-2) = -0.964 is not.
        ("tanh", np.tanh(np.array([[3.0, 0.0], [-2.0, 0.5]])), 0.25),
        ("relu", np.array([[1.0, 0.0]]), None),
    ],
)
def test_saturation_counts_values_near_the_bounds(
    op: str, values: np.ndarray, saturated: float | None
) -> None:
    assert node_stats("n", op, values).saturated == saturated


def test_the_command_writes_histograms_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib", reason="the histograms need matplotlib (the train extra)")
    spec = tmp_path / "tiny.net"
    spec.write_text("netspec 1\nmodel m(x: [4]) {\n    dense(6) -> tanh -> dense(5) -> relu\n}\n")
    out = tmp_path / "out"
    assert main(["inspect", str(spec), "--batch", "16", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tanh_1" in printed and "|grad|" in printed and "wrote" in printed
    picture = (out / "activations.png").read_bytes()
    assert picture.startswith(b"\x89PNG\r\n\x1a\n") and len(picture) > 1000
    stats = json.loads((out / "inspect.json").read_text())
    assert [n["name"] for n in stats["nodes"]] == ["dense_1", "tanh_1", "dense_2", "relu_1"]
    names = ["dense_1.weight", "dense_1.bias", "dense_2.weight", "dense_2.bias"]
    assert [g["name"] for g in stats["gradients"]] == names
    assert main(["inspect", str(spec), "--batch", "16", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"] == stats["nodes"]


def test_the_documented_run_is_the_real_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = (ROOT / "docs" / "experiments.md").read_text()
    command = "netspec inspect specs/experiments/weight_init.net --model relu_he --batch 1000"
    start = doc.index(f"$ {command} -o runs/relu_he\n") + len(command) + len(" -o runs/relu_he") + 3
    shown = doc[start : doc.index("wrote runs/relu_he", start)]
    spec = str(ROOT / "specs" / "experiments" / "weight_init.net")
    assert main(["inspect", spec, "--model", "relu_he", "--batch", "1000"]) == 0
    assert capsys.readouterr().out == shown


def test_the_weight_init_spec_holds_the_experiments_networks() -> None:
    program = netspec.load(ROOT / "specs" / "experiments" / "weight_init.net")
    stds = {"std1": 1.0, "std001": 0.01, "xavier": 0.1, "he": np.sqrt(2 / 100)}
    names = [f"sigmoid_{s}" for s in stds] + [f"relu_{s}" for s in stds if s != "std1"]
    assert sorted(m.name for m in program.models) == sorted(names)
    for model in program.models:
        activation, init = model.name.split("_")
        dense = [n for n in model.nodes if n.op.kind == "dense"]
        assert [n.op.kind for n in model.nodes] == ["dense", activation] * 5
        assert all(n.output.shape == (100,) and not n.params[1:] for n in dense)
        weights = initial_params(model, 0, "float64")
        for spec in model.params:
            assert weights[spec.name].shape == (100, 100)
            assert weights[spec.name].std() == pytest.approx(stds[init], rel=0.03)
