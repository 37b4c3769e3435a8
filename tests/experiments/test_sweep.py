"""`netspec sweep`: trials of a spec's search spaces on Optuna, resumed after a kill
without redoing finished trials, seeded and grid sampling, pruning, folds, results."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna", reason="optuna is not installed (the sweep extra)")

import netspec  # noqa: E402
from netspec.cli import main  # noqa: E402
from netspec.errors import NetspecError  # noqa: E402
from netspec.experiments.sweep import sweep  # noqa: E402
from netspec.experiments.sweep.settings import STUDY_FILE, STUDY_NAME  # noqa: E402
from netspec.experiments.sweep.study import seeded_random  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

# A tiny MLP on 300 generated samples: a run of one epoch takes a fraction of a second.
SPACES = """netspec 1
let width = int_uniform(8, 32)
model net(x: [2]) {
    dense(width) -> relu
    dense(3)
}
train net {
    data       spirals(samples = 300, validation = 0.25)
    loss       softmax_cross_entropy
    optimizer  adam(lr = log_uniform(1e-4, 1e-1))
    batch_size 50
    epochs     1
    seed       1
}
"""
# Two spaces of listed values, two of whose four combinations do not fit together.
GRID = (
    SPACES.replace("let width = int_uniform(8, 32)", "let half = choice(2, 3)")
    .replace("dense(width) -> relu", "dense(choice(4, 6)) -> relu -> reshape([2, half]) -> flatten")
    .replace("log_uniform(1e-4, 1e-1)", "0.01")
)
# Two learning rates, the good one first: the second trial's first epoch is far below
# the first's, so the median pruner stops it there.
PRUNED = (
    SPACES.replace("int_uniform(8, 32)", "16")
    .replace("log_uniform(1e-4, 1e-1)", "choice(0.01, 0.000001)")
    .replace("epochs     1", "epochs     3")
)


def _spec(tmp_path: Path, text: str = SPACES, name: str = "spaces.net") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _study(directory: Path) -> optuna.Study:
    storage = optuna.storages.RDBStorage(f"sqlite:///{directory / STUDY_FILE}")
    return optuna.load_study(study_name=STUDY_NAME, storage=storage)


def _completed_so_far(directory: Path) -> list[int]:
    """The numbers of the completed trials of a sweep another process is running, read
    through SQLite in read-only mode: opening it through Optuna would write the schema
    version while the sweep creates the database."""
    path = directory / STUDY_FILE
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as connection:
            rows = connection.execute("SELECT number FROM trials WHERE state = 'COMPLETE'")
            return [number for (number,) in rows]
    except sqlite3.Error:  # the tables are not there yet, or the database is busy
        return []
    try:
        storage = optuna.storages.RDBStorage(
            f"sqlite:///{directory / STUDY_FILE}", skip_table_creation=True
        )
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
        return study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    except Exception:
        return []


def _states(directory: Path) -> dict[int, str]:
    return {t.number: t.state.name for t in _study(directory).get_trials(deepcopy=False)}


def test_a_killed_sweep_resumes_to_n_trials_without_redoing_finished_ones(
    tmp_path: Path,
) -> None:
    spec, out = _spec(tmp_path), tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Three epochs a trial, so that the kill after the first finishes finds another running.
    command = [sys.executable, "-m", "netspec", "sweep", str(spec), "--trials", "3",
               "--epochs", "3", "--sampler", "random", "--no-prune", "--out", str(out),
               "--quiet"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        finished: list[int] = []
        while process.poll() is None and not finished:  # until the first trial completes
            finished = _completed_so_far(out)
            time.sleep(0.05)  # leave the cores to the sweep
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert _completed_so_far(out), process.stderr.read().decode()  # type: ignore[union-attr]
    done = _study(out).get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    weights = {t.number: (out / f"trial-{t.number:04d}" / "weights.safetensors") for t in done}
    stamps = {n: path.stat().st_mtime_ns for n, path in weights.items()}
    killed = [n for n, state in _states(out).items() if state == "RUNNING"]

    result = sweep(spec, trials=3, out=out, say=None)

    trials = _study(out).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3
    for before in done:  # finished trials were kept, not trained again
        after = next(t for t in trials if t.number == before.number)
        assert after.state == optuna.trial.TrialState.COMPLETE
        assert (after.value, after.params) == (before.value, before.params)
        assert weights[before.number].stat().st_mtime_ns == stamps[before.number]
    for number in killed:  # a trial killed mid-way is failed and its values run again
        killed_trial = next(t for t in trials if t.number == number)
        assert killed_trial.state == optuna.trial.TrialState.FAIL
        rerun = [t for t in trials if t.user_attrs.get("rerun_of") == number]
        assert [t.params for t in rerun] == ([killed_trial.params] if killed_trial.params else [])
        assert any(row["state"] == "interrupted" for row in result.rows)


def test_a_trial_left_running_is_marked_failed_and_run_again(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path), tmp_path / "sweep"
    sweep(spec, trials=1, out=out, sampler="random", say=None)
    study = _study(out)
    left = study.ask()  # as a killed sweep leaves it: RUNNING, with its values drawn
    left.suggest_int("let.width", 8, 32)
    left.suggest_float("optimizer.lr", 1e-4, 1e-1, log=True)
    result = sweep(spec, trials=2, out=out, say=None)
    assert any("trial 1 stopped before finishing" in note for note in result.notes)
    states = _states(out)
    assert states[1] == "FAIL" and states[2] == "COMPLETE"
    rerun = _study(out).get_trials()[2]
    assert rerun.params == left.params and rerun.user_attrs["rerun_of"] == 1
    assert [row["state"] for row in result.rows] == ["complete", "complete", "interrupted"]


def test_parallel_jobs_write_results_best_net_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, out = _spec(tmp_path), tmp_path / "sweep"
    code = main(["sweep", str(spec), "--trials", "3", "--jobs", "2", "--sampler", "random",
                 "--no-prune", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted(int(row["trial"]) for row in rows) == [0, 1, 2]  # two processes, one study
    values = [float(row["val_accuracy"]) for row in rows]
    assert values == sorted(values, reverse=True)
    best = json.loads((out / "results.json").read_text())["best"]
    assert best["objective"] == values[0] and best["trial"] == int(rows[0]["trial"])
    program = netspec.load(out / "best.net")  # parses and checks, with no spaces left
    assert netspec.search_spaces(out / "best.net") == ()
    dense = next(node for node in program.model().nodes if node.name == "dense_1")
    assert dense.op.units == best["params"]["let.width"]
    assert program.train("net").optimizer.lr == best["params"]["optimizer.lr"]
    for name in ("history.png", "params.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    for row in rows:  # each trial an ordinary run, with the spec its values gave
        trial = out / row["run"]
        final = json.loads((trial / "final.json").read_text())
        assert final["val_accuracy"] == float(row["val_accuracy"])
        assert netspec.search_spaces(trial / "trial.net") == ()
    assert f"best: trial {best['trial']}, val_accuracy {best['objective']:.4f}" in printed


def test_the_random_sampler_with_a_seed_is_deterministic(tmp_path: Path) -> None:
    spec = _spec(tmp_path)

    def trials(name: str) -> dict[int, tuple[dict, float]]:
        result = sweep(spec, trials=2, sampler="random", seed=7, prune=False,
                       out=tmp_path / name, say=None)  # fmt: skip
        return {r["trial"]: (r["params"], r["objective"]) for r in result.rows}

    first = trials("a")
    assert trials("b") == first
    # A trial's draw depends on the seed, its number and the space alone: another seed
    # draws another value.
    draws = []
    for seed in (7, 8):
        trial = optuna.create_study(sampler=seeded_random(seed)).ask()
        draws.append(trial.suggest_float("optimizer.lr", 1e-4, 1e-1, log=True))
    assert draws[0] == first[0][0]["optimizer.lr"]
    assert draws[1] != draws[0]


def test_the_grid_sampler_runs_every_combination_in_written_order(tmp_path: Path) -> None:
    spec = _spec(tmp_path, GRID)
    result = sweep(spec, trials=10, sampler="grid", out=tmp_path / "g", say=None)
    assert "the grid has 4 points: running 4 trials, not 10" in result.notes
    rows = sorted(result.rows, key=lambda row: row["trial"])
    assert [(r["params"]["let.half"], r["params"]["dense_1.units"], r["state"]) for r in rows] == [
        (2, 4, "complete"), (2, 6, "failed"), (3, 4, "failed"), (3, 6, "complete"),
    ]  # fmt: skip
    # A combination that does not check fails on its own, saying why; the sweep goes on.
    assert "cannot reshape [6] (6 values) to [2, 2]" in rows[1]["failure"]
    assert not (tmp_path / "g" / "trial-0001").exists()


def test_the_grid_sampler_refuses_a_continuous_space(tmp_path: Path) -> None:
    with pytest.raises(NetspecError, match="the grid sampler needs spaces of listed values"):
        sweep(_spec(tmp_path), trials=2, sampler="grid", out=tmp_path / "g", say=None)


def test_a_poor_trial_is_pruned(tmp_path: Path) -> None:
    spec = _spec(tmp_path, PRUNED)
    result = sweep(spec, trials=2, sampler="grid", prune_after=1, out=tmp_path / "p", say=None)
    assert [(r["trial"], r["state"]) for r in result.rows] == [(0, "complete"), (1, "pruned")]
    assert result.rows[1]["epochs"] == 1
    history = (tmp_path / "p" / "trial-0001" / "metrics.jsonl").read_text().splitlines()
    assert len(history) == 1  # stopped after its first epoch
    assert result.rows[1]["last_reported"] == json.loads(history[0])["val_accuracy"]


def test_folds_make_the_objective_the_mean(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    result = sweep(spec, trials=1, folds=2, out=tmp_path / "f", say=None)  # tpe, the default
    row = result.rows[0]
    summary = json.loads((tmp_path / "f" / "trial-0000" / "folds.json").read_text())
    assert math.isclose(row["objective"], summary["mean"]["val_accuracy"])
    assert math.isclose(row["std"], summary["std"]["val_accuracy"])


def test_a_resumed_sweep_keeps_its_settings_and_spec(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path), tmp_path / "s"
    sweep(spec, trials=1, sampler="random", out=out, say=None)
    with pytest.raises(NetspecError, match="sampler tpe contradicts the sweep"):
        sweep(spec, trials=2, sampler="tpe", out=out, say=None)
    spec.write_text(SPACES.replace("seed       1", "seed       2"))
    with pytest.raises(NetspecError, match="the spec has changed since the sweep"):
        sweep(spec, trials=2, out=out, say=None)


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        (SPACES.replace("int_uniform(8, 32)", "16").replace("log_uniform(1e-4, 1e-1)", "0.01"),
         {}, "has no search spaces"),
        (SPACES.replace(", validation = 0.25", ""), {},
         "the objective val_accuracy needs a validation split"),
        (SPACES, {"objective": "accuracy"}, "objective must name a split and a metric"),
        (SPACES, {"seed": -1}, "seed must be an integer in"),
        (SPACES, {"prune": "yes"}, "prune must be True or False, found 'yes'"),
        (SPACES, {"sampler": "bayes"}, "sampler must be one of tpe, random, grid"),
        (SPACES, {"learning_rate": 0.1}, "sweep takes no option 'learning_rate'"),
    ],
)  # fmt: skip
def test_a_sweep_that_cannot_run_says_why(
    tmp_path: Path, text: str, options: dict, expected: str
) -> None:
    with pytest.raises(NetspecError, match=expected):
        sweep(_spec(tmp_path, text), trials=1, out=tmp_path / "s", say=None, **options)


def test_without_optuna_the_sweep_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed
    with pytest.raises(NetspecError, match=r"needs Optuna, .*pip install netspec\[sweep\]"):
        sweep(_spec(tmp_path), trials=1, out=tmp_path / "s", say=None)


def test_an_override_fixes_a_space_for_every_trial(tmp_path: Path) -> None:
    spec, out = _spec(tmp_path), tmp_path / "s"
    result = sweep(spec, trials=1, sampler="random", out=out, overrides=["let.width=16"],
                   say=None)  # fmt: skip
    assert list(result.rows[0]["params"]) == ["optimizer.lr"]  # width is no longer a space
    record = json.loads((out / "trial-0000" / "run.json").read_text())
    assert "let.width=16" in record["overrides"]
    for written in (out / "trial-0000" / "trial.net", out / "best.net"):
        assert "let width = 16" in written.read_text()
        assert netspec.search_spaces(written) == ()  # checks alone
    with pytest.raises(NetspecError, match=r"overrides .* contradicts the sweep"):
        sweep(spec, trials=2, out=out, overrides=["let.width=24"], say=None)


def test_a_study_opened_while_another_process_initialises_it_is_opened_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes opening a new study database race to stamp its schema version; the
    loser's unique-constraint failure means the database is ready, so it opens again."""
    from sqlalchemy.exc import IntegrityError

    from netspec.experiments.sweep import study as study_module
    from netspec.experiments.sweep.settings import SweepSettings

    calls: list[str] = []
    real = optuna.storages.RDBStorage

    class Racing(real):  # type: ignore[misc]
        def __init__(self, url: str, **kwargs: object) -> None:
            calls.append(url)
            if len(calls) == 1:
                real(url)  # the other process wins the stamp
                raise IntegrityError("INSERT INTO alembic_version", {}, Exception("UNIQUE"))
            super().__init__(url, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", Racing)
    settings = SweepSettings(spec=SPACES, spec_sha256="0" * 64, objective="val_accuracy")
    study, _ = study_module.open_study(tmp_path, settings)
    assert len(calls) == 2 and study.study_name == STUDY_NAME
