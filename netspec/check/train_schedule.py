"""The train section's learning-rate schedule and optimizer settings, warned about where
they cannot do what they say (part of :class:`netspec.check.train.TrainChecker`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netspec.ir.train import (
    CosineSchedule,
    ExponentialSchedule,
    ReduceOnPlateauSchedule,
    StepSchedule,
)

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


def check_plateau(checker: TrainChecker) -> None:
    """reduce_on_plateau must watch a figure the run measures, and be able to act."""
    schedule = checker.spec.schedule
    if not isinstance(schedule, ReduceOnPlateauSchedule):
        return
    monitor = schedule.monitor
    data = checker.spec.data
    if monitor.startswith("val_") and data.validation == 0:
        checker.error(
            "schedule",
            f"reduce_on_plateau monitors {monitor}, but the data has no validation split",
            labels=checker.label("data", "no validation split"),
            help=[
                f"hold out a validation split, data {checker.source}(..., validation = 0.1), "
                "or monitor train_loss"
            ],
        )
    if monitor.startswith("test_") and checker.facts and checker.facts.test == 0:
        checker.error(
            "schedule",
            f"reduce_on_plateau monitors {monitor}, but the data has no test split",
            labels=checker.label("data", "test = 0: no test split"),
            help=["hold out a test split (test = 0.2), or monitor val_loss"],
        )
    classify = checker.spec.loss.kind in ("softmax_cross_entropy", "binary_cross_entropy")
    if monitor.endswith("accuracy") and not classify:
        checker.error(
            "schedule",
            f"reduce_on_plateau monitors {monitor}, but {checker.spec.loss.kind} is a "
            "regression loss: it has no accuracy",
            labels=checker.label("loss", "a regression loss"),
            help=[f"monitor {monitor.replace('accuracy', 'loss')} instead"],
        )
    epochs = checker.spec.epochs
    # The first epoch sets the best value; patience + 1 epochs without improvement follow
    # before a reduction, which applies from the next epoch on.
    if schedule.patience + 3 > epochs:
        checker.warn(
            "schedule",
            f"reduce_on_plateau(patience = {schedule.patience}) can never lower the rate in "
            f"a run of {epochs} epochs: the earliest epoch at a lowered rate is "
            f"{schedule.patience + 3}",
            labels=checker.label("epochs", f"{epochs} epochs"),
            help=[f"use patience <= {max(epochs - 3, 0)}, or more epochs"],
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
