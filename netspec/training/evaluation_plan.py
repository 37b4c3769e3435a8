"""Which epochs of a run evaluate the validation and test splits.

By default every epoch evaluates both. ``eval_every N`` evaluates every N-th epoch and
always the last one (the run's ``epochs``); ``test_at_end`` evaluates the test split at
the last epoch only (and in the final figures, which always cover both splits). The
rows of the other epochs have no ``val_*`` / ``test_*`` values, and whatever watches
them (early stopping, reduce_on_plateau, a sweep's pruner) counts in evaluations.

A run records a plan other than the default in run.json, and a resumed run keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netspec._validate import check_int, found
from netspec.errors import NetspecError
from netspec.ir.train import ReduceOnPlateauSchedule, TrainSpec

RECORD_KEY = "evaluation"  # run.json's key of a plan other than the default


@dataclass(frozen=True)
class EvalPlan:
    """Evaluate every ``every``-th epoch (and the last); the test split only at the
    last epoch with ``test_at_end``."""

    every: int = 1
    test_at_end: bool = False

    def splits(self, epoch: int, epochs: int) -> tuple[str, ...]:
        """The splits epoch ``epoch`` (from 0) of a run of ``epochs`` evaluates."""
        last = epoch + 1 >= epochs
        if not last and (epoch + 1) % self.every != 0:
            return ()
        return ("val",) if self.test_at_end and not last else ("val", "test")

    def unit(self, monitor: str) -> str:
        """What a patience watching ``monitor`` counts: epochs, or evaluations where
        only some epochs measure it."""
        return "epochs" if self.every == 1 or monitor.startswith("train") else "evaluations"

    def record(self) -> dict[str, Any]:
        """run.json's entry for the plan: nothing for the default."""
        if self == EvalPlan():
            return {}
        return {RECORD_KEY: {"every": self.every, "test_at_end": self.test_at_end}}


def resolve_plan(
    eval_every: int | None, test_at_end: bool | None, record: dict[str, Any] | None
) -> EvalPlan:
    """The plan of a run: the options given, else what a resumed run's ``record``
    (run.json) says, else the default. A resumed run keeps its plan: an option that
    contradicts it is an error."""
    if eval_every is not None:
        eval_every = check_int(eval_every, "eval_every")
    if test_at_end is not None and not isinstance(test_at_end, bool):
        raise NetspecError(f"test_at_end must be True or False, found {found(test_at_end)}")
    if record is None:  # a new run
        return EvalPlan(eval_every or 1, bool(test_at_end))
    saved = record.get(RECORD_KEY) or {}
    plan = EvalPlan(int(saved.get("every", 1)), bool(saved.get("test_at_end", False)))
    for flag, given, kept in (
        ("--eval-every", eval_every, plan.every),
        ("--test-at-end", test_at_end, plan.test_at_end),
    ):
        if given is not None and given != kept:
            raise NetspecError(
                f"{flag} {given} contradicts the run, which was started with {flag} {kept}; "
                f"a resumed run keeps its evaluation schedule: drop {flag}, or start a new "
                "run with --out"
            )
    return plan


def check_plan(plan: EvalPlan, spec: TrainSpec) -> None:
    """Before training: a figure the run watches every epoch must be one it measures
    before the end. With ``test_at_end`` the test split is measured only at the end, so
    early stopping or reduce_on_plateau cannot watch it."""
    if not plan.test_at_end:
        return
    watched = []
    if spec.early_stopping is not None:
        watched.append(("early_stopping", spec.early_stopping.monitor))
    if isinstance(spec.schedule, ReduceOnPlateauSchedule):
        watched.append(("reduce_on_plateau", spec.schedule.monitor))
    for what, monitor in watched:
        if monitor.startswith("test"):
            raise NetspecError(
                f"{what} monitors {monitor}, but --test-at-end evaluates the test split only "
                f"after the last epoch: monitor {monitor.replace('test', 'val', 1)} (with "
                "validation = 0.1 in the data source), or drop --test-at-end"
            )
