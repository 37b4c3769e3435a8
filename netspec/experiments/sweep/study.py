"""The Optuna side of a sweep: the study in SQLite, samplers, the pruner, trials that a
killed sweep left running, the grid, and how many trials are left to run."""

from __future__ import annotations

import itertools
import json
import time
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from netspec.errors import NetspecError
from netspec.experiments.sweep.settings import STUDY_FILE, STUDY_NAME, SweepSettings

# User attributes of a trial: why it failed on its own (a failure that counts as run),
# and, for a trial queued to run again the values of one killed mid-way, that trial's number.
FAILURE, RERUN_OF = "failure", "rerun_of"


def import_optuna() -> Any:
    """Optuna, quiet (the sweep prints its own line per trial), or a NetspecError
    saying which extra to install."""
    try:
        import optuna
    except ImportError:
        raise NetspecError(
            "netspec sweep needs Optuna, which is not installed: pip install netspec[sweep]"
        ) from None
    # Optuna would log each failed trial's traceback; the sweep says why in one line.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def open_study(directory: Path, settings: SweepSettings, sampler: Any = None) -> tuple[Any, Any]:
    """The study of ``directory/study.db`` (created on first use), with ``sampler`` and the
    settings' pruner, and its storage. Several processes share it: SQLite waits for a
    busy database."""
    optuna = import_optuna()
    storage = _open_storage(optuna, directory.resolve() / STUDY_FILE)
    study = optuna.create_study(
        study_name=STUDY_NAME,
        storage=storage,
        direction=settings.direction,
        sampler=sampler,
        pruner=make_pruner(settings),
        load_if_exists=True,
    )
    return study, storage


def _open_storage(optuna: Any, path: Path, attempts: int = 5) -> Any:
    """The SQLite storage at ``path``. Optuna stamps a new database's schema version on
    first open; when another process (a parallel job, a second sweep, a reader) opens the
    same new file at that moment, one of the two stamps fails on the unique version row.
    The database is then initialised, so opening it again succeeds."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(
                f"sqlite:///{path}", engine_kwargs={"connect_args": {"timeout": 300}}
            )
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def make_pruner(settings: SweepSettings) -> Any:
    """The median pruner (a trial whose objective at an epoch is worse than the median of
    the earlier trials' at that epoch stops there), once ``prune_after`` trials have
    completed; no pruning without ``prune``."""
    optuna = import_optuna()
    if not settings.prune:
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=settings.prune_after, n_warmup_steps=0)


def make_sampler(settings: SweepSettings, session: int) -> Any:
    """The sampler: ``random`` draws each trial's values from (seed, trial number, space),
    so a trial's values do not depend on interruptions or on parallel jobs; ``grid`` runs
    queued grid points (``queue_grid``), falling back to that; ``tpe`` is Optuna's TPE,
    seeded from (seed, ``session``) so that a resumed sweep does not repeat its start."""
    optuna = import_optuna()
    if settings.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=_mix(settings.seed, session, 0x7E9))
    return seeded_random(settings.seed)


def _mix(*parts: int) -> int:
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1)[0])


def seeded_random(seed: int) -> Any:
    """A random sampler whose draw for (trial number, parameter) depends on them and
    ``seed`` alone."""
    optuna = import_optuna()
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    class SeededRandomSampler(optuna.samplers.RandomSampler):
        def sample_independent(
            self, study: Any, trial: Any, param_name: str, param_distribution: Any
        ) -> Any:
            rng = np.random.default_rng([seed, trial.number, zlib.crc32(param_name.encode())])
            d = param_distribution
            if isinstance(d, CategoricalDistribution):
                return d.choices[int(rng.integers(len(d.choices)))]
            if isinstance(d, IntDistribution):
                return int(rng.integers(d.low, d.high + 1))
            if isinstance(d, FloatDistribution) and d.log:
                return float(np.exp(rng.uniform(np.log(d.low), np.log(d.high))))
            return float(rng.uniform(d.low, d.high))

    return SeededRandomSampler(seed=seed)


def suggest(trial: Any, site: Any) -> Any:
    """The trial's value for one search space (``site.path`` names the parameter)."""
    space = site.space
    if space.kind == "choice":
        return trial.suggest_categorical(site.path, list(space.options))
    if space.kind == "int_uniform":
        return trial.suggest_int(site.path, space.low, space.high)
    return trial.suggest_float(site.path, space.low, space.high, log=space.kind == "log_uniform")


def grid_points(sites: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Every combination of the spaces' values in the order written (the last space
    varying fastest): a choice's options, an int_uniform's integers."""
    axes = []
    for site in sites:
        space = site.space
        if space.kind == "choice":
            axes.append(list(space.options))
        elif space.kind == "int_uniform":
            axes.append(list(range(space.low, space.high + 1)))
        else:
            raise NetspecError(
                f"the grid sampler needs spaces of listed values (choice, int_uniform), but "
                f"{site.describe()} is continuous\n"
                f"  help: write it as choice(...) of the values to try, or use --sampler "
                "random or tpe"
            )
    return [dict(zip([s.path for s in sites], combo, strict=True))
            for combo in itertools.product(*axes)]  # fmt: skip


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def recover(study: Any, storage: Any) -> list[int]:
    """Trials a killed sweep left running (or that crashed on an unexpected error) are
    marked failed and their values queued to run again as new trials; the numbers of
    those trials. Called while no other process works on the study."""
    optuna = import_optuna()
    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    queued = {t.user_attrs.get(RERUN_OF) for t in trials}
    study_id = storage.get_study_id_from_name(STUDY_NAME)
    again = []
    for trial in trials:
        stale = trial.state == state.RUNNING
        crashed = trial.state == state.FAIL and FAILURE not in trial.user_attrs
        if not (stale or crashed) or trial.number in queued:
            continue
        if stale:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_state_values(trial_id, state=state.FAIL)
        if trial.params:
            study.enqueue_trial(dict(trial.params), user_attrs={RERUN_OF: trial.number})
        again.append(trial.number)
    return again


def queue_grid(study: Any, sites: tuple[Any, ...]) -> int:
    """Queue the grid points no trial has taken yet; the grid's size."""
    points = grid_points(sites)
    taken = {_key(dict(t.params)) for t in study.get_trials(deepcopy=False) if t.params}
    # Queued trials have no params yet: their values are in their fixed_params.
    taken |= {
        _key(t.system_attrs.get("fixed_params", {})) for t in study.get_trials(deepcopy=False)
    }
    for point in points:
        if _key(point) not in taken:
            study.enqueue_trial(point)
    return len(points)


def counted(study: Any) -> int:
    """Trials that ran to an end: completed, pruned, or failed on their own (a diverged
    run, values that do not check); not those killed mid-way, which run again."""
    optuna = import_optuna()
    state = optuna.trial.TrialState
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if t.state in (state.COMPLETE, state.PRUNED)
        or (t.state == state.FAIL and FAILURE in t.user_attrs)
    )
