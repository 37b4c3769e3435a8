"""One trial of a sweep: the spec with the trial's values, trained in its own run
directory (K times with folds), reporting its objective per epoch to the pruner."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netspec.errors import NetspecError
from netspec.experiments.sweep.settings import SweepSettings
from netspec.experiments.sweep.study import FAILURE, import_optuna, suggest
from netspec.training import rundir

TRIAL_SPEC = "trial.net"


class TrialFailed(NetspecError):
    """A trial that failed on its own (values that do not check, a diverged run): it is
    recorded as failed and the sweep goes on."""


class ObjectiveNotMeasured(NetspecError):
    """The objective is not among a trial's final metrics: every trial would miss it, so
    the sweep stops."""


def trial_dir(directory: Path, number: int) -> Path:
    """The run directory of trial ``number``: ``trial-0007``."""
    return directory / f"trial-{number:04d}"


def spec_text(settings: SweepSettings, values: dict[str, Any]) -> str:
    """The spec's text with ``values`` in place of its spaces, and the values of the
    sweep's ``--set`` overrides that fix a space too, so that the text checks alone (other
    overrides stay as sweep.json records them)."""
    from netspec.experiments.compare import as_number
    from netspec.search_space import search_spaces, substitute

    paths = {site.path for site in search_spaces(settings.spec)}
    fixed = {}
    for item in settings.overrides:
        key, _, value = item.partition("=")
        if key.strip() in paths:
            fixed[key.strip()] = as_number(value.strip())
    return substitute(settings.spec, {**fixed, **values}).text


def format_values(values: dict[str, Any]) -> str:
    """``optimizer.lr=0.00312, let.width=64``."""
    return ", ".join(
        f"{path}={value:.4g}" if isinstance(value, float) else f"{path}={value}"
        for path, value in values.items()
    )


class Objective:
    """Optuna's objective: a trial's values -> its run(s) -> the objective's final value
    (the mean over the folds with ``folds``)."""

    def __init__(
        self,
        directory: Path,
        settings: SweepSettings,
        sites: tuple[Any, ...],
        say: Callable[[str], None] | None,
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.sites = sites
        self.say = say

    def __call__(self, trial: Any) -> float:
        from netspec.search_space import substitute

        values = {site.path: suggest(trial, site) for site in self.sites}
        start = time.perf_counter()
        try:
            chosen = substitute(self.settings.spec, values, overrides=self.settings.overrides)
        except NetspecError as error:
            self._fail(trial, values, f"the values do not make a valid spec: {error}")
        out = trial_dir(self.directory, trial.number)
        with rundir.guarded("create the trial directory", out):
            out.mkdir(parents=True, exist_ok=True)
        from netspec.weights import atomic_write_bytes

        with rundir.guarded("write", out / TRIAL_SPEC):
            text = spec_text(self.settings, values) if self.settings.overrides else chosen.text
            atomic_write_bytes(out / TRIAL_SPEC, text.encode("utf-8"))
        report = _Reporter(trial, self.settings.objective)
        try:
            value = self._train(chosen.program, out, report, trial)
        except import_optuna().TrialPruned:
            trial.set_user_attr("epochs", report.step)
            epochs = f"{report.step} epoch{'s' if report.step != 1 else ''}"
            self._say(trial, values, f"pruned after {epochs}", start)
            raise
        except NetspecError as error:
            if isinstance(error, ObjectiveNotMeasured):
                raise
            self._fail(trial, values, str(error))
        shown = f"{self.settings.objective} {value:.4f}"
        if "std" in trial.user_attrs:
            shown += f" ± {trial.user_attrs['std']:.4f}"
        self._say(trial, values, shown, start)
        return value

    def _train(self, program: Any, out: Path, report: _Reporter, trial: Any) -> float:
        from netspec.training import fit
        from netspec.training.folds import cross_validate

        settings = self.settings
        options = {**settings.train, "progress": False, "spec_path": settings.spec}
        trial.set_user_attr("run", out.name)
        if settings.folds:
            outcome = cross_validate(
                program, folds=settings.folds, out=out, model=settings.model,
                on_epoch=report, **options,
            )  # fmt: skip
            spread = outcome.metrics.get(settings.objective)
            if spread is None:
                raise ObjectiveNotMeasured(_missing(settings.objective, outcome.folds[0].final))
            trial.set_user_attr("std", spread.std)
            trial.set_user_attr("folds", spread.values)
            trial.set_user_attr("epochs", report.step)
            return spread.mean
        result = fit(program, model=settings.model, out=out, on_epoch=report, **options)
        value = result.final.get(settings.objective)
        if value is None:
            raise ObjectiveNotMeasured(_missing(settings.objective, result.final))
        trial.set_user_attr("epochs", len(result.history))
        trial.set_user_attr("final", result.final)
        return float(value)

    def _fail(self, trial: Any, values: dict[str, Any], why: str) -> None:
        trial.set_user_attr(FAILURE, why)
        lines = why.splitlines()
        # The first diagnostic says more than a spec's "FILE: 1 error" heading.
        first = next((line for line in lines if "error[" in line), lines[0] if lines else "")
        self._say(trial, values, f"failed: {first}", None)
        raise TrialFailed(why)

    def _say(self, trial: Any, values: dict[str, Any], outcome: str, start: float | None) -> None:
        if self.say is None:
            return
        took = f" ({time.perf_counter() - start:.1f} s)" if start is not None else ""
        self.say(f"trial {trial.number}: {outcome}  [{format_values(values)}]{took}")


class _Reporter:
    """fit's per-epoch callback: reports the objective to the trial (epochs count on
    across the folds) and stops a trial the pruner finds poor."""

    def __init__(self, trial: Any, objective: str) -> None:
        self.trial = trial
        self.objective = objective
        self.step = 0

    def __call__(self, row: dict[str, Any]) -> None:
        self.step += 1
        value = row.get(self.objective)
        if value is None:
            return
        self.trial.report(float(value), self.step)
        if self.trial.should_prune():
            optuna = import_optuna()
            raise optuna.TrialPruned(f"{self.objective} {value:.4f} at epoch {row['epoch']}")


def _missing(objective: str, final: dict[str, Any]) -> str:
    measured = ", ".join(k for k, v in final.items() if v is not None) or "nothing"
    split = objective.partition("_")[0]
    fix = {
        "val": "add validation = 0.1 to the data source, or sweep with --folds K",
        "test": "the data source has no test split: optimise a val_ metric",
    }[split]
    return (
        f"the objective {objective} is not measured by the runs (they measure {measured})\n"
        f"  help: {fix}"
    )
