"""one_cycle sets the rate of every step, reduce_on_plateau lowers it from the epochs'
figures, and both continue exactly on resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.backends.numpy._train import NumpyTrainStep
from netspec.errors import NetspecError
from netspec.training import fit
from tests.training.conftest import assert_same_weights

SPEC = """netspec 1
model net(x: [64]) {{
    dense(16) -> relu
    dense(10)
}}
train net {{
    data       digits(flatten = true, limit = 160, validation = 0.25)
    loss       softmax_cross_entropy
    optimizer  sgd(lr = 0.05)
    schedule   {schedule}
    batch_size 40
    epochs     4
    seed       2
}}
"""
PLATEAU = "reduce_on_plateau(monitor = train_loss, factor = 0.5, patience = 0, min_delta = 10)"


def record_rates(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    rates: list[float] = []
    original = NumpyTrainStep.step

    def recording(self: NumpyTrainStep, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        rates.append(lr)
        original(self, x, y, lr)

    monkeypatch.setattr(NumpyTrainStep, "step", recording)
    return rates


def test_one_cycle_sets_each_steps_rate_as_pytorch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    rates = record_rates(monkeypatch)
    program = netspec.load(SPEC.format(schedule="one_cycle(max_lr = 0.4, pct_start = 0.25)"))
    result = fit(program, out=tmp_path / "run", progress=False)
    steps = 4 * 3  # 120 training samples in batches of 40
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
    oracle = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.4, total_steps=steps, pct_start=0.25, cycle_momentum=False
    )
    expected = []
    for _ in range(steps):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        oracle.step()
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    # Each epoch's row shows the rate of its first step.
    assert [row["lr"] for row in result.history] == pytest.approx(expected[::3], rel=1e-12)


def test_reduce_on_plateau_lowers_the_rate_after_the_epochs_it_waits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rates = record_rates(monkeypatch)
    result = fit(netspec.load(SPEC.format(schedule=PLATEAU)), out=tmp_path / "run", progress=False)
    # min_delta = 10: only the first epoch improves; with patience 0 each later epoch
    # halves the rate of the next.
    assert [row["lr"] for row in result.history] == [0.05, 0.05, 0.025, 0.0125]
    assert rates == [0.05] * 6 + [0.025] * 3 + [0.0125] * 3
    state = json.loads((tmp_path / "run" / "checkpoints" / "state.json").read_text())
    assert state["plateau"]["lr"] == 0.00625
    assert state["plateau"]["best"] == result.history[0]["train_loss"]


def test_a_resumed_plateau_run_ends_bit_identical(tmp_path: Path) -> None:
    # Without its saved state a resumed run would restart the plateau at epoch 3.
    program = netspec.load(SPEC.format(schedule=PLATEAU))
    whole = fit(program, out=tmp_path / "whole", progress=False)
    run = tmp_path / "run"
    fit(program, out=run, progress=False, stop_after=2)
    resumed = fit(program, resume=run, progress=False)
    assert [row["lr"] for row in resumed.history] == [row["lr"] for row in whole.history]
    assert_same_weights(whole.run_dir / "weights.safetensors", run / "weights.safetensors")
    states = [
        json.loads((r / "checkpoints" / "state.json").read_text()) for r in (whole.run_dir, run)
    ]
    assert states[0]["plateau"] == states[1]["plateau"]


def test_plateau_on_a_split_the_data_override_lacks_is_refused(tmp_path: Path) -> None:
    program = netspec.load(SPEC.format(schedule="reduce_on_plateau(val_loss)"))
    with pytest.raises(NetspecError) as raised:
        fit(program, out=tmp_path / "run", progress=False, data="digits(flatten = true)")
    assert str(raised.value) == (
        "reduce_on_plateau monitors val_loss, which this run cannot measure: add validation "
        "= 0.1 to the data source"
    )


def test_tensorboard_without_the_extra_is_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard.summary", None)  # as if not installed
    program = netspec.load(SPEC.format(schedule="constant"))
    with pytest.raises(NetspecError) as raised:
        fit(program, out=tmp_path / "run", progress=False, tensorboard=True)
    assert str(raised.value) == (
        "TensorBoard logging needs the tensorboard extra: pip install 'netspec[tensorboard]'"
    )
    assert not (tmp_path / "run").exists()


def test_the_tensorboard_option_takes_a_boolean() -> None:
    with pytest.raises(NetspecError, match=r"^tensorboard must be True or False, found "):
        netspec.train(SPEC.format(schedule="constant"), tensorboard="yes")
