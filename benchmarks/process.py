"""Group process: ``netspec train`` as a whole process against a hand-written script.

``python -m netspec train specs/mlp.net --backend B --epochs 1`` and the script of
:mod:`benchmarks.references` doing the same epoch (the same MNIST files, batch 128,
SGD with momentum, the test set evaluated at the end, the weights saved) run as
subprocesses, one after the other, alternating which goes first, ``rounds`` times after
one untimed warm-up run of each (the file cache, Python's bytecode cache). Both get the
same thread count: ``python -m benchmarks --threads N`` sets OMP_NUM_THREADS, which the
script's library reads and which netspec is given as ``--threads N`` (with
``--threads 0`` each keeps its own default). Each is timed by wall clock from before
the process is started to after it has exited; the ratio is taken per round. netspec
does more in that time than the script: it also evaluates the validation split, and
writes a checkpoint, metrics.jsonl, run.json, ir.json, final.json and curves.png.

Then ``traces`` more runs of netspec go through :mod:`benchmarks._startup_trace`, which
stamps the stages of a run, to itemise the time to the first step and what follows it.

MNIST is read from ``$NETSPEC_DATA_DIR`` (or ``data_dir``); without it the group is
skipped, saying so. A backend that is not installed is skipped too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._timing import Spread, table

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "mlp.net"
REFERENCES = {
    "torch": ROOT / "benchmarks" / "references" / "torch_mnist_epoch.py",
    "jax": ROOT / "benchmarks" / "references" / "jax_mnist_epoch.py",
}
TRACE = ROOT / "benchmarks" / "_startup_trace.py"
# netspec / hand-written, whole process; the jax backend has no goal.
RATIO_GOALS = {"torch": 1.10}

# (label, from mark, to mark) of the itemisation; "spawn" and "exit" are the parent's
# clock just before the process starts and just after it has exited.
STAGES = (
    ("interpreter start", "spawn", "interpreter"),
    ("netspec import", "interpreter", "imported"),
    ("parse and check", "imported", "checked"),
    ("run set-up (options, memory check)", "checked", "data_start"),
    ("data loading", "data_start", "data_end"),
    ("backend import", "data_end", "backend_end"),
    ("compile, optimizer, run directory", "backend_end", "step_start"),
    ("first step", "step_start", "step_end"),
)
FIRST_STEP = ("time to first step", "spawn", "step_end")
AFTER = (
    ("the other steps, evaluation, checkpoint", "step_end", "epochs_end"),
    ("final figures, weights, curves", "epochs_end", "finish_end"),
    ("interpreter exit", "finish_end", "exit"),
)


@dataclass
class ProcessRow:
    backend: str
    netspec: Spread  # seconds, whole process
    reference: Spread
    ratio: Spread  # netspec / reference, per round
    stages: dict[str, Spread] = field(default_factory=dict)  # label -> seconds
    traced: Spread | None = None  # the traced runs' whole process

    @property
    def goal(self) -> float | None:
        return RATIO_GOALS.get(self.backend)


@dataclass
class ProcessResult:
    rows: list[ProcessRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _netspec(backend: str, out: Path) -> list[str]:
    command = [sys.executable, "-m", "netspec", "train", str(SPEC), "--backend", backend,
               "--epochs", "1", "--out", str(out)]  # fmt: skip
    # The script's libraries size their pools from OMP_NUM_THREADS (python -m benchmarks
    # --threads N sets it); netspec train sizes its own unless told, so tell it the same.
    threads = os.environ.get("OMP_NUM_THREADS", "")
    return command + (["--threads", threads] if threads.isdigit() else [])


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Run ``command`` to its end: (wall seconds, spawn time, exit time) by time.time()."""
    spawn = time.time()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    finished = time.time()
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return elapsed, spawn, finished


def _installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def run(
    *,
    rounds: int = 11,
    traces: int = 5,
    backends: tuple[str, ...] = ("torch", "jax"),
    data_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> ProcessResult:
    result = ProcessResult()
    data_dir = data_dir or os.environ.get("NETSPEC_DATA_DIR")
    if not data_dir:
        result.skipped.append("NETSPEC_DATA_DIR is not set (point it at a folder holding mnist/)")
        return result
    env = {**os.environ, "NETSPEC_DATA_DIR": data_dir}
    for backend in backends:
        if not _installed(backend):
            result.skipped.append(f"{backend}: not installed")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            ours, theirs = _alternate(backend, Path(tmp), env, data_dir, rounds, progress)
            stages, traced = _itemise(backend, Path(tmp), env, traces, progress)
        result.rows.append(
            ProcessRow(
                backend,
                Spread.of(ours),
                Spread.of(theirs),
                Spread.of([a / b for a, b in zip(ours, theirs, strict=True)]),
                stages,
                traced,
            )
        )
    return result


def _alternate(
    backend: str,
    folder: Path,
    env: dict[str, str],
    data_dir: str,
    rounds: int,
    progress: Callable[[str], None] | None,
) -> tuple[list[float], list[float]]:
    """Whole-process seconds of netspec and of the script, ``rounds`` each, alternated."""

    def netspec(name: str) -> float:
        return _timed(_netspec(backend, folder / name), env)[0]

    def reference(name: str) -> float:
        command = [sys.executable, str(REFERENCES[backend]), data_dir, str(folder / name)]
        return _timed(command, env)[0]

    if progress:
        progress(f"process: {backend}, warm-up")
    netspec("warm-up")
    reference("warm-up-reference")
    ours: list[float] = []
    theirs: list[float] = []
    for index in range(rounds):
        if progress:
            progress(f"process: {backend}, round {index + 1} of {rounds}")
        # Alternate which goes first, as the other groups do.
        if index % 2 == 0:
            ours.append(netspec(f"run{index}"))
            theirs.append(reference(f"reference{index}"))
        else:
            theirs.append(reference(f"reference{index}"))
            ours.append(netspec(f"run{index}"))
    return ours, theirs


def _itemise(
    backend: str,
    folder: Path,
    env: dict[str, str],
    traces: int,
    progress: Callable[[str], None] | None,
) -> tuple[dict[str, Spread], Spread | None]:
    """Medians of each stage over ``traces`` traced runs (see benchmarks._startup_trace)."""
    samples: dict[str, list[float]] = {}
    wholes: list[float] = []
    for index in range(traces):
        if progress:
            progress(f"process: {backend}, traced run {index + 1} of {traces}")
        trace = folder / f"trace{index}.json"
        command = [
            sys.executable,
            str(TRACE),
            str(trace),
            *_netspec(backend, folder / f"t{index}")[3:],
        ]
        elapsed, spawn, finished = _timed(command, env)
        marks = {**json.loads(trace.read_text()), "spawn": spawn, "exit": finished}
        wholes.append(elapsed)
        for label, start, end in (*STAGES, FIRST_STEP, *AFTER):
            if start in marks and end in marks:
                samples.setdefault(label, []).append(marks[end] - marks[start])
    return {label: Spread.of(values) for label, values in samples.items()}, (
        Spread.of(wholes) if wholes else None
    )


def render(result: ProcessResult) -> str:
    title = "### process: netspec train as a whole process against a hand-written script"
    lines = [title, ""]
    for line in result.skipped:
        lines.append(f"skipped: {line}")
    if not result.rows:
        return "\n".join(lines)
    rows = []
    for r in result.rows:
        goal = r.goal
        verdict = "no goal" if goal is None else ("met" if r.ratio.median <= goal else "NOT met")
        rows.append(
            [
                f"{r.backend}, 1 epoch of specs/mlp.net",
                r.netspec.fmt(digits=2),
                r.reference.fmt(digits=2),
                f"{r.ratio.fmt(digits=3)}",
                f"<= {goal:.2f} ({verdict})" if goal is not None else verdict,
            ]
        )
    lines += [
        f"seconds, median [IQR] over {result.rows[0].netspec.n} alternated rounds, each side a "
        "whole process (interpreter start to exit); the ratio is netspec / hand-written, "
        "per round.",
        "",
        table(["case", "netspec train", "hand-written script", "ratio", "goal"], rows),
    ]
    for r in result.rows:
        if not r.stages:
            continue
        n = next(iter(r.stages.values())).n
        stage_rows = [
            [label, r.stages[label].fmt(digits=3)]
            for label, _, _ in (*STAGES, FIRST_STEP, *AFTER)
            if label in r.stages
        ]
        lines += [
            "",
            f"{r.backend}: where the time of `netspec train` goes, seconds, median [IQR] over "
            f"{n} traced runs (whole process {r.traced.fmt(digits=2) if r.traced else '-'}; "
            "stages from timestamps, see benchmarks/_startup_trace.py)",
            "",
            table(["stage", "seconds"], stage_rows),
        ]
    return "\n".join(lines)
