"""Checkpoints: state.json is validated like any input, every file it names is checked
against its recorded SHA-256, metrics come back from the committed state, and what a
killed run left (temporary files, unreferenced checkpoints) is removed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netspec.cli import main
from netspec.errors import NetspecError
from netspec.ir import Program
from netspec.training import epochs, fit, loop
from tests.training.conftest import Killed, assert_same_weights


@pytest.fixture
def run(tiny: Program, tmp_path: Path) -> Path:
    """A run stopped after its first two epochs."""
    path = tmp_path / "run"
    fit(tiny, out=path, progress=False, stop_after=2)
    return path


def _edit(field: str, value: Any) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        path = run / "checkpoints" / "state.json"
        state = json.loads(path.read_text())
        state[field] = value
        path.write_text(json.dumps(state))

    return edit


def _outside(run: Path) -> None:
    """Name a copy of the weights that sits outside the checkpoint directory."""
    path = run / "checkpoints" / "state.json"
    state = json.loads(path.read_text())
    outside = run / "elsewhere.safetensors"
    outside.write_bytes((run / "checkpoints" / state["weights"]).read_bytes())
    state["weights"] = str(outside.resolve())
    path.write_text(json.dumps(state))


def _parent(run: Path) -> None:
    path = run / "checkpoints" / "state.json"
    state = json.loads(path.read_text())
    (run / "w.safetensors").write_bytes((run / "checkpoints" / state["weights"]).read_bytes())
    state["weights"] = "../w.safetensors"
    path.write_text(json.dumps(state))


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda run: (run / "checkpoints" / "state.json").write_bytes(data)


def _flip(run: Path) -> None:
    """Flip one bit in the last byte of the weights (array data, not the header)."""
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    path = run / "checkpoints" / state["weights"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "absolute-path": (_outside, "is not a plain .safetensors file name"),
    "parent-path": (_parent, "is not a plain .safetensors file name"),
    "epoch-a-string": (_edit("epoch", "x"), r"epoch: Input should be a valid integer"),
    "epoch-negative": (_edit("epoch", -1), r"epoch: Input should be greater than or equal to 0"),
    "epoch-beyond-history": (_edit("epoch", 7), "epoch is 7 but the history has 2 rows"),
    "history-null": (_edit("history", None), r"history: Input should be a valid array"),
    "unknown-field": (_edit("weigths", "x"), r"weigths: Extra inputs are not permitted"),
    "digest-missing": (_edit("sha256", {}), "no SHA-256 recorded for epoch-0002.weights"),
    "invalid-utf8": (_bytes(b'{"epoch": "\xff"}'), r"not valid UTF-8 \(byte 11\)"),
    "not-json": (_bytes(b"{"), "is not a valid netspec checkpoint state"),
    "flipped-bit": (_flip, r"epoch-0002\.weights\.safetensors is damaged: its SHA-256 is"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_bad_checkpoint_is_refused_in_one_line(
    tiny_file: str, run: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    corrupt, expected = CORRUPTIONS[name]
    corrupt(run)
    assert main(["train", tiny_file, "--quiet", "--resume", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("netspec train: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert re.search(expected, err), err


def test_the_epoch_cannot_exceed_the_runs_epochs(tiny: Program, tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit(tiny, out=run, progress=False, epochs=2)
    path = run / "checkpoints" / "state.json"
    state = json.loads(path.read_text())
    state["train"]["epochs"] = 1
    path.write_text(json.dumps(state))
    with pytest.raises(NetspecError, match="epoch 2 is beyond the run's 1 epochs"):
        fit(tiny, resume=run, progress=False)


def test_eval_of_a_damaged_checkpoint_is_refused(
    tiny_file: str, run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    weights = str(run / "checkpoints" / state["weights"])
    assert main(["eval", tiny_file, "--weights", weights]) == 0
    capsys.readouterr()
    _flip(run)
    assert main(["eval", tiny_file, "--weights", weights]) == 1
    assert "is damaged: its SHA-256" in capsys.readouterr().err


def test_the_last_metrics_line_survives_a_kill_after_its_commit(
    tiny: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    real = loop.rundir.write_metrics

    def die_after_the_last_commit(path: Path, history: list[dict[str, Any]]) -> None:
        if len(history) == 3:
            raise Killed
        real(path, history)

    with monkeypatch.context() as patch:
        patch.setattr(loop.rundir, "write_metrics", die_after_the_last_commit)
        with pytest.raises(Killed):
            fit(tiny, out=run, progress=False)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    fit(tiny, resume=run, progress=False)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_resume_removes_temporary_files_and_unreferenced_checkpoints(
    tiny: Program, run: Path, tmp_path: Path
) -> None:
    checkpoints = run / "checkpoints"
    litter = [
        checkpoints / ".state.json.k2j3h4",
        checkpoints / ".epoch-0003.weights.safetensors.abc123",
        checkpoints / "epoch-0001.weights.safetensors",
        checkpoints / "best-0001.weights.safetensors",
        run / ".metrics.jsonl.zz9",
        run / ".weights.safetensors.q1",
    ]
    for path in litter:
        path.write_bytes(b"left by a killed run")
    fit(tiny, resume=run, progress=False)
    assert not [path for path in litter if path.exists()]
    state = json.loads((checkpoints / "state.json").read_text())
    assert sorted(p.name for p in checkpoints.iterdir()) == sorted(
        ["state.json", state["weights"], state["optimizer"], state["best"]]
    )
    assert set(state["sha256"]) == {state["weights"], state["optimizer"], state["best"]}


def test_the_best_weights_are_committed_with_their_epoch(
    tiny: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill after an epoch's best weights are written, before its state commit, leaves
    the committed checkpoint intact (its digests still match): the resumed run restores
    the same best weights as an uninterrupted one."""
    settings: dict[str, Any] = {"epochs": 5, "lr": 0.1, "progress": False}
    whole = fit(tiny, out=tmp_path / "whole", **settings)
    best = json.loads((whole.run_dir / "checkpoints" / "state.json").read_text())["best_epoch"]
    assert best is not None and best < 5  # the final weights are a restored best
    run = tmp_path / "run"
    real = epochs.save_checkpoint

    def die_saving_the_best(directory: Path, state: Any, *args: Any, **kwargs: Any) -> None:
        if state.epoch != best:
            real(directory, state, *args, **kwargs)
            return
        # Written as the epoch's files would be, then killed before state.json.
        epochs.save_weights(directory / f"best-{best:04d}.weights.safetensors", kwargs["best"])
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(epochs, "save_checkpoint", die_saving_the_best)
        with pytest.raises(Killed):
            fit(tiny, out=run, **settings)
    result = fit(tiny, resume=run, progress=False)
    assert result.history[-1]["epoch"] == 5
    assert_same_weights(whole.run_dir / "weights.safetensors", run / "weights.safetensors")
