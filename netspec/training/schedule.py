"""Learning rate per epoch (docs/training.md, "Learning-rate schedules")."""

from __future__ import annotations

import math

from netspec.ir.train import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    ScheduleSpec,
    StepSchedule,
)


def learning_rate(schedule: ScheduleSpec, base: float, epoch: int) -> float:
    """The rate for epoch ``epoch`` (counting from 0) under ``schedule``."""
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
    else:  # pragma: no cover - the IR union is closed
        raise TypeError(f"unknown schedule {schedule!r}")
    if epoch < schedule.warmup:
        rate *= (epoch + 1) / (schedule.warmup + 1)
    return rate
