"""Learning-rate schedules against hand-computed values and PyTorch's schedulers."""

from __future__ import annotations

import math

import pytest

from netspec.ir.train import ConstantSchedule, CosineSchedule, ExponentialSchedule, StepSchedule
from netspec.training.schedule import learning_rate


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
