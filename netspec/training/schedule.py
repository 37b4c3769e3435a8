"""Learning rate per epoch, or per step for one_cycle (docs/training.md,
"Learning-rate schedules"), and the state of reduce_on_plateau."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from netspec.ir.train import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    OneCycleSchedule,
    ReduceOnPlateauSchedule,
    ScheduleSpec,
    StepSchedule,
)

# torch's ReduceLROnPlateau eps: a reduction smaller than this leaves the rate as it is.
PLATEAU_EPS = 1e-8


class PlateauState(BaseModel):
    """reduce_on_plateau's memory between epochs, saved in every checkpoint."""

    model_config = ConfigDict(strict=True, extra="forbid")

    lr: float = Field(gt=0)  # the rate of the next epoch (before any warm-up factor)
    best: float | None = None
    bad_epochs: int = Field(default=0, ge=0)
    cooldown_left: int = Field(default=0, ge=0)

    def update(self, schedule: ReduceOnPlateauSchedule, value: float) -> None:
        """One epoch's monitored ``value``, as torch's ReduceLROnPlateau.step(value) with
        threshold_mode="abs" (mode "max" for an accuracy, else "min")."""
        if _better(value, self.best, schedule.monitor, schedule.min_delta):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > schedule.patience:
            lowered = max(self.lr * schedule.factor, schedule.min_lr)
            if self.lr - lowered > PLATEAU_EPS:
                self.lr = lowered
            self.cooldown_left, self.bad_epochs = schedule.cooldown, 0


def _better(value: float, best: float | None, monitor: str, min_delta: float) -> bool:
    if best is None:
        return True
    if monitor.endswith("accuracy"):
        return value > best + min_delta
    return value < best - min_delta


def per_step(schedule: ScheduleSpec) -> bool:
    """Whether the rate changes from step to step (one_cycle) rather than per epoch."""
    return isinstance(schedule, OneCycleSchedule)


def learning_rate(
    schedule: ScheduleSpec,
    base: float,
    epoch: int,
    *,
    step: int = 0,
    steps_per_epoch: int = 1,
    epochs: int = 1,
    plateau: PlateauState | None = None,
) -> float:
    """The rate of step ``step`` of epoch ``epoch`` (both counting from 0) under
    ``schedule``; only one_cycle reads the step, and ``epochs`` for its length."""
    if isinstance(schedule, ConstantSchedule):
        rate = base
    elif isinstance(schedule, StepSchedule):
        rate = base * schedule.gamma ** (epoch // schedule.step_size)
    elif isinstance(schedule, ExponentialSchedule):
        rate = base * schedule.gamma**epoch
    elif isinstance(schedule, CosineSchedule):
        rate = (
            schedule.eta_min
            + (base - schedule.eta_min) * (1.0 + math.cos(math.pi * epoch / schedule.t_max)) / 2.0
        )
    elif isinstance(schedule, ReduceOnPlateauSchedule):
        rate = plateau.lr if plateau is not None else base
    elif isinstance(schedule, OneCycleSchedule):
        return one_cycle_rate(
            schedule, base, epoch * steps_per_epoch + step, epochs * steps_per_epoch
        )
    else:  # pragma: no cover - the IR union is closed
        raise TypeError(f"unknown schedule {schedule!r}")
    if epoch < schedule.warmup:
        rate *= (epoch + 1) / (schedule.warmup + 1)
    return rate


def one_cycle_rate(schedule: OneCycleSchedule, base: float, step: int, total: int) -> float:
    """torch's OneCycleLR (three_phase=False) at step ``step`` of ``total``: from
    max_lr / div_factor up to max_lr until step pct_start * total - 1, then down to
    max_lr / div_factor / final_div_factor at step total - 1."""
    peak = schedule.max_lr if schedule.max_lr is not None else base
    initial = peak / schedule.div_factor
    final = initial / schedule.final_div_factor
    rise_end = float(schedule.pct_start * total) - 1
    phases = ((rise_end, initial, peak), (total - 1.0, peak, final))
    start = 0.0
    for index, (end, low, high) in enumerate(phases):
        if step <= end or index == len(phases) - 1:
            # A phase that ends where it starts is at its end (torch divides by zero).
            pct = (step - start) / (end - start) if end != start else 1.0
            if schedule.anneal == "cos":
                return high + (low - high) / 2.0 * (math.cos(math.pi * pct) + 1)
            return (high - low) * pct + low
        start = end
    raise AssertionError("the last phase always answers")
