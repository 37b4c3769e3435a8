"""Learning-rate schedules against hand-computed values and PyTorch's schedulers."""

from __future__ import annotations

import math
from typing import Any

import pytest

from netspec.ir.train import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    OneCycleSchedule,
    ReduceOnPlateauSchedule,
    StepSchedule,
)
from netspec.training.schedule import PlateauState, learning_rate


def test_hand_computed_values() -> None:
    assert learning_rate(ConstantSchedule(), 0.1, 7) == 0.1
    assert learning_rate(StepSchedule(step_size=3, gamma=0.5), 0.1, 7) == pytest.approx(0.025)
    assert learning_rate(ExponentialSchedule(gamma=0.9), 1.0, 2) == pytest.approx(0.81)
    cosine = CosineSchedule(t_max=10, eta_min=0.01)
    assert learning_rate(cosine, 0.1, 0) == pytest.approx(0.1)
    assert learning_rate(cosine, 0.1, 5) == pytest.approx(0.055)
    assert learning_rate(cosine, 0.1, 10) == pytest.approx(0.01)
    warm = ConstantSchedule(warmup=3)
    assert [learning_rate(warm, 0.4, e) for e in range(5)] == pytest.approx(
        [0.1, 0.2, 0.3, 0.4, 0.4]
    )


@pytest.mark.parametrize(
    ("spec", "factory"),
    [
        (
            StepSchedule(step_size=2, gamma=0.3),
            lambda opt, torch: torch.optim.lr_scheduler.StepLR(opt, 2, 0.3),
        ),
        (
            ExponentialSchedule(gamma=0.8),
            lambda opt, torch: torch.optim.lr_scheduler.ExponentialLR(opt, 0.8),
        ),
        (
            CosineSchedule(t_max=6, eta_min=0.001),
            lambda opt, torch: torch.optim.lr_scheduler.CosineAnnealingLR(opt, 6, 0.001),
        ),
    ],
)
def test_matches_pytorch_schedulers_stepped_per_epoch(spec, factory) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = factory(optimizer, torch)
    for epoch in range(8):
        assert math.isclose(
            learning_rate(spec, 0.1, epoch),
            optimizer.param_groups[0]["lr"],
            rel_tol=1e-12,
            abs_tol=1e-15,
        ), epoch
        optimizer.step()
        scheduler.step()


# -- reduce_on_plateau and one_cycle, against PyTorch's schedulers as the oracle --------

PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.91, 0.92, 0.89, 0.895, 0.9, 0.9, 0.7, 0.71, 0.72, 0.73,
                   0.74, 0.6, 0.61, 0.62, 0.63, 0.64, 0.65, 0.66, 0.67]  # fmt: skip


@pytest.mark.parametrize(
    "settings",
    [
        {"factor": 0.5, "patience": 1},
        {"factor": 0.1, "patience": 2, "cooldown": 2},
        {"factor": 0.5, "patience": 0, "min_lr": 0.02},
        {"factor": 0.5, "patience": 1, "min_delta": 0.02},
        {"factor": 0.3, "patience": 1, "monitor": "val_accuracy"},
    ],
    ids=["plain", "cooldown", "min_lr", "min_delta", "max_mode"],
)
def test_reduce_on_plateau_matches_pytorch(settings: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    schedule = ReduceOnPlateauSchedule(**settings)
    accuracy = schedule.monitor.endswith("accuracy")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    oracle = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer,
        mode="max" if accuracy else "min",
        factor=schedule.factor,
        patience=schedule.patience,
        threshold=schedule.min_delta,
        threshold_mode="abs",
        cooldown=schedule.cooldown,
        min_lr=schedule.min_lr,
    )
    state = PlateauState(lr=0.1)
    rates = []
    for value in PLATEAU_METRICS:
        value = 1 - value if accuracy else value
        state.update(schedule, value)
        oracle.step(value)
        assert state.lr == optimizer.param_groups[0]["lr"]
        rates.append(learning_rate(schedule, 0.1, 0, plateau=state))
    assert rates[-1] < 0.1  # the sequence has plateaus that lower the rate


@pytest.mark.parametrize(
    ("settings", "epochs", "per_epoch"),
    [
        ({"max_lr": 0.5}, 4, 25),
        ({"max_lr": 0.5, "pct_start": 0.25, "anneal": "linear"}, 3, 11),
        ({"div_factor": 10.0, "final_div_factor": 100.0}, 2, 7),
    ],
)
def test_one_cycle_matches_pytorch_step_by_step(
    settings: dict[str, Any], epochs: int, per_epoch: int
) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed")
    schedule = OneCycleSchedule(**settings)
    base = 0.2  # the optimizer's lr: max_lr when one_cycle does not give one
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    oracle = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=schedule.max_lr if schedule.max_lr is not None else base,
        total_steps=epochs * per_epoch,
        pct_start=schedule.pct_start,
        anneal_strategy=schedule.anneal,
        div_factor=schedule.div_factor,
        final_div_factor=schedule.final_div_factor,
        cycle_momentum=False,
    )
    for epoch in range(epochs):
        for step in range(per_epoch):
            ours = learning_rate(
                schedule, base, epoch, step=step, steps_per_epoch=per_epoch, epochs=epochs
            )
            assert math.isclose(ours, optimizer.param_groups[0]["lr"], rel_tol=1e-12), (epoch, step)
            optimizer.step()
            oracle.step()


def test_one_cycle_hand_computed_ends() -> None:
    schedule = OneCycleSchedule(max_lr=1.0, pct_start=0.5, div_factor=4.0, final_div_factor=2.0)
    rates = [learning_rate(schedule, 9.9, 0, step=s, steps_per_epoch=5, epochs=1) for s in range(5)]
    # Rising over steps 0..1.5 (pct_start * 5 - 1), falling over 1.5..4, cosine.
    assert rates[0] == pytest.approx(0.25)
    assert rates[1] == pytest.approx(0.25 + 0.75 * (1 - math.cos(math.pi / 1.5)) / 2)
    assert rates[4] == pytest.approx(0.125)
    assert max(rates) < 1.0
