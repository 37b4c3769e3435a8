"""The train section's learning-rate schedule and optimizer settings, warned about where
they cannot do what they say (part of :class:`netspec.check.train.TrainChecker`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netspec.ir.train import CosineSchedule, ExponentialSchedule, StepSchedule

if TYPE_CHECKING:
    from netspec.check.train import TrainChecker


def check_schedule(checker: TrainChecker) -> None:
    """Warm-up, step, exponential and cosine settings that cannot act within the run."""
    schedule = checker.spec.schedule
    epochs = checker.spec.epochs
    lr = checker.spec.optimizer.lr
    runs = checker.label("epochs", f"{epochs} epochs")
    if schedule.warmup and schedule.warmup >= epochs:
        checker.warn(
            "schedule",
            f"the warm-up of {schedule.warmup} epochs lasts the whole run of {epochs}: "
            f"the learning rate never reaches lr = {lr:g}",
            labels=runs,
            help=[f"use warmup < {epochs}"],
        )
    if isinstance(schedule, StepSchedule) and schedule.step_size >= epochs:
        checker.warn(
            "schedule",
            f"step(step_size = {schedule.step_size}) never decays in a run of {epochs} epochs",
            labels=runs,
            help=[f"use step_size < {epochs}"],
        )
    if isinstance(schedule, StepSchedule | ExponentialSchedule) and schedule.gamma >= 1:
        effect = (
            "keeps the learning rate constant"
            if schedule.gamma == 1
            else "raises the learning rate at every decay"
        )
        checker.warn(
            "schedule",
            f"{schedule.kind} with gamma = {schedule.gamma:g} {effect}",
            help=["gamma is the factor per decay: use a value below 1, e.g. 0.1"],
        )
    if isinstance(schedule, CosineSchedule):
        if schedule.eta_min >= lr:
            checker.warn(
                "schedule",
                f"cosine anneals from lr = {lr:g} to eta_min = {schedule.eta_min:g}, which "
                "is not lower",
                labels=checker.label("optimizer", f"lr = {lr:g}"),
                help=[f"use eta_min < {lr:g}, e.g. eta_min = 0"],
            )
        if schedule.t_max < epochs - 1:
            checker.warn(
                "schedule",
                f"cosine(t_max = {schedule.t_max}) reaches eta_min at epoch "
                f"{schedule.t_max + 1} and then rises again, in a run of {epochs} epochs",
                labels=runs,
                help=[f"use t_max = {epochs - 1} to anneal over the whole run"],
            )


def check_optimizer_settings(checker: TrainChecker) -> None:
    """Optimizer settings that have no effect."""
    optimizer = checker.spec.optimizer
    dampening = getattr(optimizer, "dampening", 0.0)
    if dampening and optimizer.momentum == 0:
        checker.warn(
            "optimizer",
            f"dampening = {dampening:g} has no effect without momentum",
            help=["drop dampening, or set momentum"],
        )
