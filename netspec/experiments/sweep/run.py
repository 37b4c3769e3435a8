"""``netspec.experiments.sweep.sweep``: start or resume a sweep, run its trials (in
parallel processes with ``jobs``), and write its results."""

from __future__ import annotations

import datetime as _dt
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netspec._validate import check_seed
from netspec.errors import NetspecError
from netspec.experiments.sweep import results
from netspec.experiments.sweep.objective import Objective, TrialFailed
from netspec.experiments.sweep.settings import (
    SAMPLERS,
    SweepSettings,
    check_objective,
    read_settings,
    resumed,
    sha256_text,
    write_settings,
)
from netspec.experiments.sweep.study import (
    counted,
    import_optuna,
    make_sampler,
    open_study,
    queue_grid,
    recover,
)
from netspec.training import rundir
from netspec.training.folds import check_folds
from netspec.training.lock import RunLock

# Training options a sweep passes to every trial (the rest are the sweep's own).
TRAIN_OPTIONS = ("backend", "device", "dtype", "epochs", "batch_size", "data", "data_dir")


@dataclass
class SweepResult:
    """What :func:`sweep` returns: the sweep directory, every trial's row (best first),
    the best trial's values and objective, and notes on how the sweep was resumed."""

    directory: Path
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None
    settings: SweepSettings
    notes: list[str] = field(default_factory=list)


def sweep(
    spec: str | os.PathLike[str],
    *,
    trials: int,
    jobs: int = 1,
    sampler: str | None = None,
    objective: str | None = None,
    folds: int | None = None,
    seed: int | None = None,
    prune: bool | None = None,
    prune_after: int | None = None,
    out: str | os.PathLike[str] | None = None,
    model: str | None = None,
    overrides: list[str] | None = None,
    say: Callable[[str], None] | None = print,
    **train: Any,
) -> SweepResult:
    """Run (or resume) a sweep of the spec file ``spec`` to ``trials`` trials in all.

    ``out`` is the sweep directory (default ``sweeps/<spec>-<time>``); when it holds a
    sweep, that sweep resumes: settings given again must agree with the recorded ones
    (those left None are taken from it) and the spec must not have changed. ``train``
    holds the options of every trial's training (``backend``, ``dtype``, ``epochs``,
    ...). ``overrides`` (``KEY=VALUE`` strings, as ``--set`` takes them) apply to the
    spec before its spaces are read: one may fix a space. ``say`` prints a line per
    trial (None for silence).
    """
    import_optuna()
    from netspec.search_space import search_spaces

    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise NetspecError(f"cannot read {path}: {error.strerror or error}") from None
    _check_counts(trials, jobs, prune_after)
    if sampler is not None and sampler not in SAMPLERS:
        raise NetspecError(f"sampler must be one of {', '.join(SAMPLERS)}, found {sampler!r}")
    if folds is not None:
        check_folds(folds, "--folds")
    if seed is not None:
        seed = check_seed(seed)
    if prune is not None and not isinstance(prune, bool):
        raise NetspecError(f"prune must be True or False, found {prune!r}")
    unknown = sorted(set(train) - set(TRAIN_OPTIONS))
    if unknown:
        raise NetspecError(
            f"sweep takes no option {unknown[0]!r}; the training options it passes on are "
            f"{', '.join(TRAIN_OPTIONS)}"
        )
    if overrides is not None and (
        isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides)
    ):
        raise NetspecError(f"overrides must be a list of 'KEY=VALUE' strings, found {overrides!r}")
    sites = search_spaces(path, overrides=overrides)
    if not sites:
        raise NetspecError(
            f"{path} has no search spaces, so there is nothing to sweep\n"
            "  help: leave values open, e.g. optimizer adam(lr = log_uniform(1e-4, 1e-1))"
        )
    directory = _directory(out, path)
    lock = RunLock(directory)
    try:
        settings, notes = _settings(directory, path, text, sites, given_settings={
            "objective": objective, "sampler": sampler, "seed": seed, "folds": folds,
            "prune": prune, "prune_after": prune_after, "model": model,
            "overrides": list(overrides) if overrides else None,
            "train": {k: v for k, v in train.items() if v is not None},
        })  # fmt: skip
        _run(directory, settings, sites, trials, jobs, notes, say)
        rows = results.rows(directory, settings)
        best = results.write(directory, settings, sites, rows)
    finally:
        lock.release()
    return SweepResult(directory, rows, best, settings, notes)


def _check_counts(trials: object, jobs: object, prune_after: object) -> None:
    for name, value, least in (("trials", trials, 1), ("jobs", jobs, 1),
                               ("prune_after", prune_after, 0)):  # fmt: skip
        if value is None and name == "prune_after":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise NetspecError(f"{name} must be an integer >= {least}, found {value!r}")


def _directory(out: str | os.PathLike[str] | None, spec: Path) -> Path:
    if out is None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        directory = Path("sweeps") / f"{spec.stem}-{stamp}"
    else:
        directory = rundir.require_path(out, "--out")
        rundir.check_new_location(directory)
    with rundir.guarded("create the sweep directory", directory):
        directory.mkdir(parents=True, exist_ok=True)
    return directory


def _settings(
    directory: Path, spec: Path, text: str, sites: tuple[Any, ...], given_settings: dict[str, Any]
) -> tuple[SweepSettings, list[str]]:
    """The recorded settings of a sweep to resume, or new ones (recorded now)."""
    given = {"spec": str(spec), "spec_sha256": sha256_text(text), **given_settings}
    recorded = read_settings(directory)
    if recorded is not None:
        return resumed(recorded, given, directory), [f"resuming the sweep in {directory}"]
    leftovers = sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))
    if leftovers:
        raise NetspecError(
            f"--out {directory} is not empty and holds no sweep ({', '.join(leftovers[:5])}); "
            "choose a new directory"
        )
    objective = _objective(spec, sites, given_settings)
    settings = SweepSettings(
        spec=str(spec),
        spec_sha256=given["spec_sha256"],
        objective=objective,
        sampler=given_settings["sampler"] or "tpe",
        seed=given_settings["seed"] if given_settings["seed"] is not None else 0,
        folds=given_settings["folds"],
        prune=given_settings["prune"] if given_settings["prune"] is not None else True,
        prune_after=given_settings["prune_after"]
        if given_settings["prune_after"] is not None
        else 5,
        train=given_settings["train"],
        model=given_settings["model"],
        overrides=given_settings["overrides"] or [],
    )
    if settings.sampler == "grid":
        from netspec.experiments.sweep.study import grid_points

        grid_points(sites)  # a continuous space is an error now, not after the first trial
    write_settings(directory, settings, text)
    return settings, []


def _objective(spec: Path, sites: tuple[Any, ...], given: dict[str, Any]) -> str:
    """The objective given, or val_accuracy for a classification loss and val_loss for
    another; a val_ objective needs a validation split (or folds). Read from the spec
    with each space at its first value."""
    from netspec.search_space import substitute
    from netspec.training.evaluate import CLASSIFICATION

    first = {s.path: s.space.options[0] if s.space.kind == "choice" else s.space.low for s in sites}
    program = substitute(spec, first, overrides=given["overrides"]).program
    section = program.train(program.model(given["model"]).name)
    if section is None:
        raise NetspecError(f"{spec} has no train section to sweep")
    objective = given["objective"] or (
        "val_accuracy" if section.loss.kind in CLASSIFICATION else "val_loss"
    )
    check_objective(objective)
    data = train_data(section, given["train"].get("data"))
    if objective.startswith("val_") and not given["folds"] and not data.validation:
        raise NetspecError(
            f"the objective {objective} needs a validation split, but the data source "
            f"{data.source} holds none out\n"
            "  help: add validation = 0.1 to the data source, or sweep with --folds K"
        )
    return objective


def train_data(section: Any, data: Any) -> Any:
    """The data source a trial trains on: the spec's, or ``data`` in its place."""
    from netspec.training.options import apply_overrides

    return apply_overrides(section, data=data).data if data is not None else section.data


def _run(
    directory: Path,
    settings: SweepSettings,
    sites: tuple[Any, ...],
    trials: int,
    jobs: int,
    notes: list[str],
    say: Callable[[str], None] | None,
) -> None:
    study, storage = open_study(directory, settings)
    again = recover(study, storage)
    if again:
        notes.append(
            f"trial{'s' if len(again) > 1 else ''} {', '.join(map(str, again))} stopped before "
            "finishing; running their values again as new trials"
        )
    total = trials
    if settings.sampler == "grid":
        size = queue_grid(study, sites)
        if trials > size:
            notes.append(f"the grid has {size} points: running {size} trials, not {trials}")
            total = size
    done = counted(study)
    left = max(0, total - done)
    if done:
        notes.append(f"{done} of {total} trials had already run; running {left} more")
    if say is not None:
        for note in notes:
            say(note)
    if left == 0:
        return
    session = len(study.get_trials(deepcopy=False))
    shares = [left // jobs + (1 if i < left % jobs else 0) for i in range(jobs)]
    shares = [n for n in shares if n]
    if len(shares) == 1:
        work(directory, settings, shares[0], session, say)
        return
    context = multiprocessing.get_context("spawn")  # no forked copies of a framework
    workers = [
        context.Process(target=_worker, args=(directory, settings, n, session * 1000 + i))
        for i, n in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    if failed:
        raise NetspecError(
            f"{len(failed)} of {len(workers)} sweep processes failed (exit codes "
            f"{', '.join(map(str, failed))}); run the same command again to resume"
        )


def work(
    directory: Path,
    settings: SweepSettings,
    n_trials: int,
    session: int,
    say: Callable[[str], None] | None,
) -> None:
    """Run ``n_trials`` trials of the study in this process."""
    from netspec.search_space import search_spaces

    sites = search_spaces(settings.spec, overrides=settings.overrides)
    study, _ = open_study(directory, settings, make_sampler(settings, session))
    objective = Objective(directory, settings, sites, say)
    study.optimize(objective, n_trials=n_trials, catch=(TrialFailed,))


def _worker(directory: Path, settings: SweepSettings, n_trials: int, session: int) -> None:
    """A parallel job: its trials, a line each; an error as one line and exit code 1."""
    import sys

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        work(directory, settings, n_trials, session, say)
    except NetspecError as error:
        print(f"netspec sweep: error: {error}", file=sys.stderr, flush=True)
        sys.exit(1)
