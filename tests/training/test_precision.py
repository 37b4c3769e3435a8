"""Mixed precision: bf16 / fp16 steps stay within their documented tolerance of fp32 and
of each other across backends, the loss scaler's skips are not divergence, resume is
exact, and what a backend cannot do is refused with one message everywhere."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.cli import main
from netspec.errors import NetspecError
from netspec.ir import Program
from netspec.ir.train import Adam, SoftmaxCrossEntropy
from netspec.training import fit
from tests.training.conftest import TINY, assert_same_weights

pytest.importorskip("torch", reason="torch is not installed (pip install netspec[torch])")
pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")

# docs/training.md, "Precision": the relative difference of a step's loss from fp32's
# (and between backends) that each format keeps to on small nets. bf16 keeps 8 bits of
# mantissa (a relative rounding of 2**-9 per operation), fp16 keeps 11.
TOLERANCE = {"bf16": 1e-2, "fp16": 1e-3}
MIXED = sorted(TOLERANCE)
STEPS = 4

NET = """netspec 1
model net(x: [64]) {
    dense(32) -> batchnorm -> relu
    dense(10)
}
"""


def _batches() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    return [
        (rng.normal(size=(32, 64)).astype(np.float32), rng.integers(0, 10, 32))
        for _ in range(STEPS)
    ]


@functools.cache  # each run is compared more than once
def _losses(backend: str, precision: str) -> tuple[list[float], dict[str, np.ndarray]]:
    """Each step's mean loss and the weights after the last, from the same start."""
    program = netspec.load(NET)
    compiled = get_backend(backend).compile(program.model("net"), seed=0)
    step = compiled.train_step(SoftmaxCrossEntropy(), Adam(lr=0.01), precision=precision)
    losses = []
    for x, y in _batches():
        step.step(x, y, 0.01)
        stats = step.drain()
        assert stats.first_nonfinite == -1
        losses.append(stats.loss_sum / stats.samples)
    return losses, compiled.parameters()


def _relative(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) / abs(y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("precision", MIXED)
def test_a_reduced_precision_step_is_close_to_fp32_but_not_fp32(
    backend: str, precision: str
) -> None:
    full, full_weights = _losses(backend, "fp32")
    reduced, weights = _losses(backend, precision)
    assert 0 < _relative(reduced, full) < TOLERANCE[precision]
    # The master weights stay float32.
    assert all(array.dtype == np.float32 for array in weights.values())
    assert weights.keys() == full_weights.keys()


@pytest.mark.parametrize("precision", MIXED)
def test_torch_and_jax_agree_in_each_precision(precision: str) -> None:
    torch_losses, _ = _losses("torch", precision)
    jax_losses, _ = _losses("jax", precision)
    assert _relative(torch_losses, jax_losses) < TOLERANCE[precision]


@pytest.mark.parametrize("precision", MIXED)
def test_numpy_refuses_reduced_precision(tiny: Program, precision: str) -> None:
    expected = f"precision {precision} asks for "
    compiled = get_backend("numpy").compile(tiny.model("net"), seed=0)
    with pytest.raises(NetspecError) as raised:
        compiled.train_step(SoftmaxCrossEntropy(), Adam(), precision=precision)
    assert str(raised.value).startswith(expected)
    assert "which the numpy backend does not do" in str(raised.value)
    with pytest.raises(NetspecError) as from_fit:
        fit(tiny, backend="numpy", precision=precision, progress=False)
    assert str(from_fit.value) == str(raised.value)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_reduced_precision_with_float64_weights_is_refused_alike(
    tiny: Program, backend: str
) -> None:
    with pytest.raises(NetspecError) as raised:
        fit(tiny, backend=backend, dtype="float64", precision="bf16", progress=False)
    assert str(raised.value) == (
        "precision bf16 computes in bfloat16 with float32 master weights, so it expects "
        "dtype float32, found dtype float64\n  help: use --dtype float32, or precision fp32 "
        "to train in float64"
    )


def test_an_unknown_precision_is_refused_before_loading(tiny: Program) -> None:
    with pytest.raises(NetspecError, match="precision must be one of 'fp32', 'bf16', 'fp16'"):
        netspec.train(tiny, precision="fp8", progress=False)


def test_fp16_steps_whose_scaled_gradients_overflow_are_skipped_not_divergence() -> None:
    import torch

    program = netspec.load(NET)
    compiled = get_backend("torch").compile(program.model("net"), seed=0)
    step = compiled.train_step(SoftmaxCrossEntropy(), Adam(lr=0.01), precision="fp16")
    before = compiled.parameters()
    # A scale no float32 gradient survives: the scaler skips the step and halves it.
    step.load_optimizer_state({"step": np.array(0), "loss_scale": np.array(3e38)})
    x, y = _batches()[0]
    step.step(x, y, 0.01)
    assert step.drain().first_nonfinite == -1
    saved = step.optimizer_state()
    assert int(saved["step"]) == 0  # no update was made
    assert float(saved["loss_scale"]) == pytest.approx(1.5e38)
    for name, value in compiled.parameters().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    # The next steps update again, from the halved scale, and count from one.
    step.load_optimizer_state({**saved, "loss_scale": np.array(1024.0)})
    step.step(x, y, 0.01)
    assert step.drain().first_nonfinite == -1
    assert int(step.optimizer_state()["step"]) == 1
    assert not torch.equal(
        torch.from_numpy(compiled.parameters()["dense_1.weight"]),
        torch.from_numpy(before["dense_1.weight"]),
    )


@pytest.mark.parametrize(("backend", "precision"), [("torch", "fp16"), ("jax", "bf16")])
def test_resume_in_a_reduced_precision_is_exact(
    tiny: Program, tmp_path: Path, backend: str, precision: str
) -> None:
    settings = {"backend": backend, "precision": precision, "epochs": 2, "progress": False}
    whole = fit(tiny, out=tmp_path / "whole", **settings)  # type: ignore[arg-type]
    run = tmp_path / "run"
    fit(tiny, out=run, stop_after=1, **settings)  # type: ignore[arg-type]
    fit(tiny, resume=run, backend=backend, progress=False)  # the run keeps its precision
    assert_same_weights(whole.run_dir / "weights.safetensors", run / "weights.safetensors")
    with pytest.raises(NetspecError) as raised:
        fit(tiny, resume=run, backend=backend, precision="fp32", progress=False)
    assert str(raised.value).startswith(
        f"--precision fp32 contradicts the run, which was started with precision {precision}"
    )


def test_the_command_line_trains_in_and_records_its_precision(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.net"
    spec.write_text(TINY.replace("epochs     3", "epochs     1"))
    out = tmp_path / "run"
    args = ["train", str(spec), "--backend", "jax", "--precision", "bf16", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["train"]["precision"] == "bf16"
