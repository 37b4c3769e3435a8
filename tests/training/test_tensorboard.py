"""--tensorboard: each epoch's metrics, read back with TensorBoard's own reader."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorboard", reason="tensorboard is not installed")

from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)
from tensorboard.util import tensor_util

from netspec.cli import main
from netspec.training import fit
from netspec.training.tensorboard_events import tag
from tests.training.conftest import TINY


def read_scalars(directory: Path) -> dict[str, dict[int, float]]:
    events = EventAccumulator(str(directory))
    events.Reload()
    return {
        name: {
            event.step: float(tensor_util.make_ndarray(event.tensor_proto))
            for event in events.Tensors(name)
        }
        for name in events.Tags()["tensors"]
    }


def test_each_epochs_metrics_are_in_the_event_files(tmp_path: Path) -> None:
    import netspec

    run = tmp_path / "run"
    fit(netspec.load(TINY), out=run, progress=False, stop_after=2, tensorboard=True)
    # A resumed run adds its epochs to the same directory.
    result = fit(netspec.load(TINY), resume=run, progress=False, tensorboard=True)
    scalars = read_scalars(run / "tensorboard")
    assert {"train/loss", "train/accuracy", "val/loss", "val/accuracy", "lr"} <= set(scalars)
    for row in result.history:
        for key in ("train_loss", "val_loss", "val_accuracy", "lr", "epoch_time"):
            # Stored as float32 scalars.
            assert scalars[tag(key)][row["epoch"]] == pytest.approx(row[key], rel=1e-6), key
    assert set(scalars["val/loss"]) == {1, 2, 3}


def test_the_flag_turns_it_on_and_without_it_nothing_is_written(
    tmp_path: Path, tiny_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", tiny_file, "--out", str(tmp_path / "on"), "--epochs", "1", "--quiet",
                 "--tensorboard"]) == 0  # fmt: skip
    assert set(read_scalars(tmp_path / "on" / "tensorboard")["val/loss"]) == {1}
    assert (
        main(["train", tiny_file, "--out", str(tmp_path / "off"), "--epochs", "1", "--quiet"]) == 0
    )
    assert not (tmp_path / "off" / "tensorboard").exists()


def test_tags_group_the_splits() -> None:
    assert [tag(k) for k in ("train_loss", "val_top_5_accuracy", "test_ema_mae", "lr")] == [
        "train/loss",
        "val/top_5_accuracy",
        "test_ema/mae",
        "lr",
    ]


def test_ctrl_c_keeps_the_flag_in_the_command_that_continues(
    tmp_path: Path,
    tiny_file: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shlex

    from netspec.training import hooks

    real = hooks.learning_rate

    def interrupted_in_epoch_two(schedule: object, lr: float, epoch: int, **step: object) -> float:
        if epoch == 1:
            raise KeyboardInterrupt
        return real(schedule, lr, epoch, **step)  # type: ignore[arg-type]

    run = str(tmp_path / "run")
    with monkeypatch.context() as patch:
        patch.setattr(hooks, "learning_rate", interrupted_in_epoch_two)
        assert main(["train", tiny_file, "--out", run, "--quiet", "--tensorboard"]) == 130
    command = capsys.readouterr().err.splitlines()[-1].strip()
    assert command == (
        f"netspec train {tiny_file} --resume {run} --backend numpy --device cpu "
        "--dtype float32 --tensorboard --quiet"
    )
    assert main(shlex.split(command)[1:]) == 0
    assert set(read_scalars(tmp_path / "run" / "tensorboard")["val/loss"]) == {1, 2, 3}
