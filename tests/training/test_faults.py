"""A run killed (SIGKILL) at every file operation of its first two epochs either resumes
to the uninterrupted run's weights bit for bit or starts afresh, saying so, and leaves no
temporary or unreferenced file behind.

Each run is a child process whose ``os.replace`` and ``os.unlink`` (every atomic commit,
every removal) record the operation and kill the process just before or just after the
k-th one. Children come from a fork server: a fresh interpreter, so that forking never
copies the threads that torch or JAX started in the test process.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netspec.ir import Program
from netspec.training import fit, rundir
from tests.training.conftest import LOCK_FILE, assert_same_weights

pytestmark = pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="needs a fork server"
)


def _skip_plot_and_fsync() -> None:
    """The plot is not part of the state and costs more than the rest of a run; fsync
    guards against power loss, not against a killed process (the kernel keeps its
    writes), and would take most of this test's time."""
    rundir.plot_curves = lambda path, history, **labels: False  # type: ignore[assignment]
    os.fsync = lambda fd: None  # type: ignore[assignment]


def _child(program: Program, out: Path, kill_at: int | None, after: bool, log: Path) -> None:
    """Train, appending each file operation to ``log``; die at operation ``kill_at``."""
    _skip_plot_and_fsync()
    record = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    count = 0

    def hook(real: Callable[..., Any], kind: str) -> Callable[..., Any]:
        def operation(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            count += 1
            target = os.path.basename(os.fspath(args[1] if kind == "replace" else args[0]))
            os.write(record, f"{kind} {target}\n".encode())
            if count == kill_at and not after:
                os.kill(os.getpid(), signal.SIGKILL)
            result = real(*args, **kwargs)
            if count == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        return operation

    os.replace = hook(os.replace, "replace")  # type: ignore[assignment]
    os.unlink = hook(os.unlink, "unlink")  # type: ignore[assignment]
    fit(program, out=out, progress=False)


def _run_child(program: Program, out: Path, kill_at: int | None, after: bool) -> list[str]:
    """Train in a child killed at operation ``kill_at``; the operations it reached."""
    log = out.with_name(out.name + ".operations")
    context = multiprocessing.get_context("forkserver")
    # Imported once in the server, not again in every child.
    context.set_forkserver_preload([__name__, "netspec.backends.numpy"])
    child = context.Process(target=_child, args=(program, out, kill_at, after, log))
    child.start()
    child.join()
    events = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    if kill_at is None:
        assert child.exitcode == 0, events
    else:
        assert child.exitcode == -signal.SIGKILL, events
    return events


def _first_two_epochs(events: list[str]) -> int:
    """How many operations a run makes up to its second epoch's metrics line."""
    commits = 0
    for index, event in enumerate(events):
        commits += event == "replace state.json"
        if commits == 2 and event == "replace metrics.jsonl":
            return index + 1
    raise AssertionError(f"no second epoch in {events}")


def _assert_clean(run: Path) -> None:
    """Only the lock is hidden; the checkpoint directory holds only what its state names."""
    hidden = [p.name for p in run.rglob(".*") if p.name != LOCK_FILE]
    assert hidden == [], hidden
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    named = {state["weights"], state["optimizer"], state["best"], "state.json"} - {None}
    assert {p.name for p in (run / "checkpoints").iterdir()} == named


def test_a_kill_at_any_file_operation_loses_at_most_the_epoch_in_progress(
    tiny: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rundir, "plot_curves", lambda path, history, **labels: False)
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    reference = fit(tiny, out=tmp_path / "reference", progress=False)
    events = _run_child(tiny, tmp_path / "count", None, after=False)
    operations = _first_two_epochs(events)
    assert operations >= 12  # the start's files, then 2 x (3 checkpoint files, state, metrics)
    tried = {"resumed": 0, "restarted": 0, "reused": 0}
    for kill_at in range(1, operations + 1):
        for after in (False, True):
            run = tmp_path / f"kill-{kill_at}-{'after' if after else 'before'}"
            reached = _run_child(tiny, run, kill_at, after)
            assert len(reached) == kill_at
            state_file = run / "checkpoints" / "state.json"
            committed = json.loads(state_file.read_text())["history"] if state_file.exists() else []
            if not committed:
                copy = run.with_name(run.name + "-out")
                shutil.copytree(run, copy)
                again = fit(tiny, out=copy, progress=False)
                assert any("starting a new run in it" in note for note in again.notes), again.notes
                assert_same_weights(
                    reference.run_dir / "weights.safetensors", copy / "weights.safetensors"
                )
                tried["reused"] += 1
            result = fit(tiny, resume=run, progress=False)
            where = f"killed {'after' if after else 'before'} {reached[-1]} (operation {kill_at})"
            restarted = any("starting it from epoch 1" in note for note in result.notes)
            assert restarted == (not committed), where
            # The killed process's lock was taken over, and said so.
            assert any("is no longer running" in note for note in result.notes), where
            # Committed epochs were kept as they were, not trained again.
            assert result.history[: len(committed)] == committed, where
            rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            assert [row["epoch"] for row in rows] == [1, 2, 3], where
            assert [row["val_loss"] for row in rows] == [r["val_loss"] for r in reference.history]
            assert_same_weights(
                reference.run_dir / "weights.safetensors", run / "weights.safetensors"
            )
            _assert_clean(run)
            tried["restarted" if restarted else "resumed"] += 1
    assert tried["resumed"] > 0 and tried["restarted"] > 0
    print(f"kill points: {operations} operations x before/after: {tried}")
