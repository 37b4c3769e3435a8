"""Resume continues the run it names: with the settings the run started with, for the
same spec however it is reached, and Ctrl-C says how to continue."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from netspec import load
from netspec.cli import main
from netspec.errors import NetspecError
from netspec.frontend import analyze
from netspec.ir import Program
from netspec.training import fit, hooks
from netspec.training.start import fingerprint
from tests.training.conftest import TINY, assert_same_weights


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("seed", 9, "--seed 9 contradicts the run, which was started with seed 1"),
        ("lr", 0.5, "--lr 0.5 contradicts the run, which was started with lr 0.01"),
        (
            "batch_size",
            20,
            "--batch-size 20 contradicts the run, which was started with batch size 40",
        ),
        (
            "data",
            "digits(flatten = true, limit = 100, validation = 0.25)",
            '--data "digits(flatten = true, limit = 100, validation = 0.25)" contradicts the run, '
            'which was started with data "digits(flatten = true, validation = 0.25, limit = 160)"',
        ),
        (
            "precision",
            "bf16",
            "--precision bf16 contradicts the run, which was started with precision fp32",
        ),
    ],
)
def test_a_flag_contradicting_the_run_is_refused(
    tiny: Program, tmp_path: Path, flag: str, value: Any, expected: str
) -> None:
    run = tmp_path / "run"
    fit(tiny, out=run, progress=False, stop_after=1)
    with pytest.raises(NetspecError) as raised:
        fit(tiny, resume=run, progress=False, **{flag: value})
    assert str(raised.value).startswith(expected)
    # The same value as the run's is no contradiction.
    agreeing = {"seed": 1, "lr": 0.01, "batch_size": 40, "data": tiny.trains[0].data,
                "precision": "fp32"}[flag]  # fmt: skip
    fit(tiny, resume=run, progress=False, **{flag: agreeing})


def test_resume_restores_the_runs_settings(tiny: Program, tmp_path: Path) -> None:
    settings: dict[str, Any] = {"lr": 0.05, "seed": 4, "batch_size": 20, "epochs": 2}
    whole = fit(tiny, out=tmp_path / "whole", progress=False, **settings)
    run = tmp_path / "run"
    fit(tiny, out=run, progress=False, stop_after=1, **settings)
    result = fit(tiny, resume=run, progress=False)  # no flags: the run's own settings
    assert [row["epoch"] for row in result.history] == [1, 2]  # not the spec's 3 epochs
    assert_same_weights(whole.run_dir / "weights.safetensors", run / "weights.safetensors")


def test_more_epochs_on_resume_extend_the_run_and_are_recorded(
    tiny: Program, tmp_path: Path
) -> None:
    whole = fit(tiny, out=tmp_path / "whole", progress=False, epochs=5)
    run = tmp_path / "run"
    fit(tiny, out=run, progress=False)  # the spec's 3 epochs, finished
    result = fit(tiny, resume=run, progress=False, epochs=5)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5]
    assert_same_weights(whole.run_dir / "weights.safetensors", run / "weights.safetensors")
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["epochs_changes"] == [{"after_epoch": 3, "epochs": 5}]
    assert state["train"]["epochs"] == 5
    with pytest.raises(NetspecError, match="--epochs 4 is fewer than the 5 epochs"):
        fit(tiny, resume=run, progress=False, epochs=4)


@pytest.mark.parametrize("variant", ["absolute-path", "copy", "comment", "blank-lines"])
def test_the_same_spec_reached_another_way_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("tiny.net").write_text(TINY)
    first = analyze(TINY, "tiny.net").program
    assert first is not None
    text, file = TINY, "tiny.net"
    if variant == "absolute-path":
        file = str(tmp_path / "tiny.net")
    elif variant == "copy":
        (tmp_path / "copies").mkdir()
        file = str(tmp_path / "copies" / "other.net")
    elif variant == "comment":
        text = "# a comment that moves every line\n" + TINY
    else:
        text = TINY.replace("dense(16) -> relu", "\n\ndense(16)   ->   relu")
    again = analyze(text, file).program
    assert again is not None and again.source_map != first.source_map
    whole = fit(first, out=tmp_path / "whole", progress=False)
    fit(first, out=tmp_path / "run", progress=False, stop_after=1, spec_path="tiny.net")
    fit(again, resume=tmp_path / "run", progress=False, spec_path=file)
    assert_same_weights(
        whole.run_dir / "weights.safetensors", tmp_path / "run" / "weights.safetensors"
    )


def test_a_changed_spec_is_still_refused(tiny: Program, tmp_path: Path) -> None:
    fit(tiny, out=tmp_path / "run", progress=False, stop_after=1)
    for change in (("dense(16)", "dense(17)"), ("adam(lr = 0.01)", "adam(lr = 0.02)")):
        changed = analyze(TINY.replace(*change), "tiny.net").program
        assert changed is not None
        with pytest.raises(NetspecError, match="the spec has changed"):
            fit(changed, resume=tmp_path / "run", progress=False)


def _interrupt_in_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    real = hooks.learning_rate

    def rate(schedule: Any, lr: float, index: int, **step: Any) -> float:
        if index == epoch - 1:
            raise KeyboardInterrupt
        return real(schedule, lr, index, **step)

    # The rate is asked for at the start of every epoch.
    monkeypatch.setattr(hooks, "learning_rate", rate)


@pytest.mark.parametrize("epoch", [1, 3])
def test_ctrl_c_says_what_is_saved_and_how_to_continue(
    tiny: Program,
    tiny_file: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    epoch: int,
) -> None:
    run = str(tmp_path / "run")
    with monkeypatch.context() as patch:
        _interrupt_in_epoch(patch, epoch)
        assert main(["train", tiny_file, "--out", run, "--quiet", "--dtype", "float64"]) == 130
    lines = capsys.readouterr().err.splitlines()
    saved = (
        f"the checkpoint of epoch {epoch - 1} in {run} is complete"
        if epoch > 1
        else f"no epoch's checkpoint is complete in {run}; resuming starts it from epoch 1"
    )
    options = "--backend numpy --device cpu --dtype float64"
    command = f"netspec train {tiny_file} --resume {run} {options} --quiet"
    assert lines == [f"netspec train: interrupted; {saved}. Continue with:", f"  {command}"]
    assert main(shlex.split(command)[1:]) == 0
    whole = fit(tiny, out=tmp_path / "whole", progress=False, dtype="float64")
    assert_same_weights(whole.run_dir / "weights.safetensors", Path(run) / "weights.safetensors")


# Fingerprints of the example specs as netspec has computed them since run directories
# record one: a change of the IR's form that leaves the model's meaning alone must keep
# them, or every run directory made before it refuses to resume.
RECORDED_FINGERPRINTS = {
    "deep_conv_net": "b170c0826855e6503ae53af3d1a56f4ff98165a9bc3533c6f2082576d644187e",
    "digits": "9f46d0e918f96773171d1e34eda5dd1e881950fda01141375f414034c3dbfd23",
    "lenet5": "501e5a04e4610d8bea4f6b685f587897f41ae1c9a32a330ec3a1e37f7e2cc966",
    "mnist_residual": "0af8dcfc01432e18c4ba1fc4168d62ca71b69973a11ca5cff2c606a165b01a67",
    "multilayer_net_extend": "1b00f7aaa7cc6f883a8d5b2c31281d2fcbd4db33869d426d8037a37071c5f73e",
}


@pytest.mark.parametrize("name", sorted(RECORDED_FINGERPRINTS))
def test_fingerprints_of_earlier_runs_still_match(name: str) -> None:
    program = load(Path(__file__).parents[2] / "specs" / f"{name}.net")
    section = program.train(name)
    assert section is not None
    assert fingerprint(program.model(name), section) == RECORDED_FINGERPRINTS[name]


# A csv train section, fingerprinted before csv sources had column groups (inputs).
CSV_SECTION = """model m(x: [3]) { dense(2) }
train m {
    data csv("data.csv", target = "label", categorical = ["c"])
    loss softmax_cross_entropy
    optimizer sgd(lr = 0.1)
}
"""
CSV_FINGERPRINT = "b3c1f1532b2b634a1977098143c1f402ddd003bc92ba8701f69aff1e11ee009c"


def test_a_csv_run_started_before_column_groups_still_matches() -> None:
    program = load(CSV_SECTION)
    section = program.train("m")
    assert section is not None
    assert fingerprint(program.model(), section) == CSV_FINGERPRINT
