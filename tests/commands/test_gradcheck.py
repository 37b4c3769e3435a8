"""`netspec gradcheck`: backends' gradients against central differences, kinks apart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.backends.numpy import nn as numpy_nn
from netspec.backends.numpy.nn_conv import maxpool
from netspec.cli import main
from netspec.commands._batch import Batch, make_batch
from netspec.commands._kinks import _argmax_cells
from netspec.commands.gradcheck import run_gradcheck
from netspec.ir.ops import to_checked
from netspec.ir.train import MeanSquaredError
from tests.backends.conftest import backend_params

# Penalties (l2 from the train section) and two smooth activations beside the ReLU.
MLP = """netspec 1
model mlp(x: [2]) {
    dense(8) -> relu -> dense(6) -> tanh -> dense(3)
}
train mlp {
    data       spirals(classes = 3, samples = 60)
    loss       softmax_cross_entropy
    optimizer  sgd(lr = 0.1)
    regularize l2(0.01)
}
"""
# Convolution, batchnorm in training mode, max-pool and dropout (reseeded per evaluation).
CNN = """netspec 1
model cnn(x: [1, 6, 6]) {
    conv2d(3, 3, padding = same) -> batchnorm -> relu -> maxpool(2)
    flatten -> dropout(0.25) -> dense(4)
}
"""
SPECS = {"mlp": MLP, "cnn": CNN}


def _write(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.net"
    path.write_text(SPECS[name])
    return str(path)


@pytest.mark.parametrize("spec", sorted(SPECS))
@pytest.mark.parametrize("backend", backend_params())
def test_gradients_agree_with_central_differences(
    spec: str, backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["gradcheck", _write(tmp_path, spec), "--backend", backend, "--samples", "6"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out
    assert "ok: " in out


def test_a_wrong_backward_fails_naming_the_parameter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    relu = numpy_nn.LOWERINGS["relu"]
    assert relu.backward is not None
    right = relu.backward

    def scaled(dy: np.ndarray, cache: object) -> np.ndarray:
        return right(dy, cache) * 1.01  # type: ignore[no-any-return]

    monkeypatch.setitem(numpy_nn.LOWERINGS, "relu", dataclasses.replace(relu, backward=scaled))
    code = main(["gradcheck", _write(tmp_path, "mlp"), "--samples", "6"])
    out = capsys.readouterr().out
    assert code == 1, out
    # Only what lies before the ReLU is wrong: the first dense layer and the input.
    assert "FAIL: gradient of dense_1.weight" in out
    assert "FAIL: gradient of x" in out
    assert "FAIL: gradient of dense_2.weight" not in out


@pytest.mark.parametrize("backend", backend_params())
def test_an_input_at_a_relu_zero_is_a_kink_not_a_failure(backend: str) -> None:
    program = netspec.load("netspec 1\nmodel k(x: [3]) {\n    relu -> dense(2)\n}\n")
    model = program.model()
    x = np.array([[0.0, 0.7, -0.4], [1.2, -0.3, 0.5]])
    y = np.array([[0.3, -0.1], [0.2, 0.4]])
    report = run_gradcheck(model, backend, Batch({"x": x}, y, MeanSquaredError(), "crafted"))
    assert report.ok, report.render()
    (checked_x,) = [t for t in report.tensors if t.name == "x"]
    assert [(k.index, k.nodes) for k in checked_x.kinks] == [((0, 0), ("relu_1",))]
    # relu'(0) = 0 by convention, while the central difference averages 0 and 1.
    kink = checked_x.kinks[0]
    assert kink.analytic == 0.0 and abs(kink.numeric) > 1e-3
    assert "1 coordinate at a kink" in report.render()


def test_a_tie_in_a_max_pool_window_is_a_kink() -> None:
    program = netspec.load("netspec 1\nmodel p(x: [1, 2, 2]) {\n    maxpool(2) -> flatten\n}\n")
    x = np.array([[[[1.0, 1.0], [0.0, -1.0]]]])
    y = np.array([[0.5]])
    report = run_gradcheck(program.model(), "numpy", Batch({"x": x}, y, MeanSquaredError(), "tie"))
    (checked_x,) = report.tensors
    assert [k.index for k in checked_x.kinks] == [(0, 0, 0, 0), (0, 0, 0, 1)]
    assert report.ok


@pytest.mark.parametrize(
    ("kernel", "stride", "pads"),
    [((2, 2), (2, 2), ((0, 0), (0, 0))), ((3, 2), (1, 2), ((1, 1), (0, 1)))],
)
def test_max_pool_cells_match_the_numpy_kernel(
    kernel: tuple[int, int], stride: tuple[int, int], pads: tuple[tuple[int, int], ...]
) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    _, (cells, _) = maxpool(x, kernel=kernel, stride=stride, pads=pads)
    op = to_checked(netspec.ir.ops.MaxPool(kernel=kernel, stride=stride), padding=pads)
    assert np.array_equal(_argmax_cells(x, op), cells)


def test_an_l1_weight_at_zero_is_a_kink() -> None:
    text = (
        "netspec 1\nmodel l(x: [2]) {\n"
        "    dense(2, init = zeros, regularize = l1(0.1)) -> dense(1)\n}\n"
    )
    model = netspec.load(text).model()
    x, y = np.array([[0.5, -1.0]]), np.array([[0.2]])
    report = run_gradcheck(model, "numpy", Batch({"x": x}, y, MeanSquaredError(), "l1"))
    first = report.tensors[0]
    assert first.name == "dense_1.weight"
    assert len(first.kinks) == 4 and all(k.nodes == ("l1 penalty",) for k in first.kinks)
    assert report.ok


def test_a_strongly_curved_loss_is_checked_at_a_finer_step() -> None:
    # tanh(1000 x) near 0: the central difference at h = 1e-5 is off by about
    # h^2 1000^2 / 3 relative (1/3 of 1e-4), at h / 10 by a hundredth of that.
    model = netspec.load(
        "netspec 1\nmodel c(x: [1]) {\n    dense(1, weight = [[1000]], bias = [0]) -> tanh\n}\n"
    ).model()
    x, y = np.array([[1e-4]]), np.array([[0.5]])

    def loss(u: float) -> float:
        return float((np.tanh(1000 * u) - 0.5) ** 2)

    def exact(u: float) -> float:
        return 2 * (np.tanh(1000 * u) - 0.5) * 1000 / np.cosh(1000 * u) ** 2

    def off(step: float) -> float:
        numeric = (loss(1e-4 + step) - loss(1e-4 - step)) / (2 * step)
        return abs(numeric - exact(1e-4)) / abs(exact(1e-4))

    assert off(1e-5) > 1e-6 > off(1e-6)
    report = run_gradcheck(model, "numpy", Batch({"x": x}, y, MeanSquaredError(), "curved"))
    assert report.ok, report.render()
    assert report.tensors[-1].name == "x" and report.tensors[-1].max_rel < 1e-6


def test_the_train_sections_data_gives_the_batch(tmp_path: Path) -> None:
    program = netspec.load(_write(tmp_path, "mlp"))
    model = program.model()
    batch = make_batch(program, model, data="spec", batch=5, seed=3, dtype="float64")
    assert batch.x["x"].shape == (5, 2) and batch.y.dtype == np.int64
    assert "spirals" in batch.source
    again = make_batch(program, model, data="spec", batch=5, seed=3, dtype="float64")
    assert np.array_equal(batch.x["x"], again.x["x"])
    assert run_gradcheck(model, "numpy", batch, samples=4).ok


def test_data_without_a_train_section_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["gradcheck", _write(tmp_path, "cnn"), "--data", "spec"])
    err = capsys.readouterr().err
    assert code == 2
    assert "model 'cnn' has no train section" in err
