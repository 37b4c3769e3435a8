"""The loop with batches made in a thread trains on the same batches as without it, on
every backend, and leaves no thread behind when an epoch ends early."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import netspec
from netspec.training import TrainingDiverged, TrainingInterrupted, fit
from tests.training.conftest import assert_same_weights
from tests.training.test_training_augment import AUGMENTED

DIVERGING = """netspec 1
model net(x: [64]) {
    dense(32) -> relu
    dense(10)
}
train net {
    data       digits(flatten = true, limit = 200, one_hot = true)
    loss       mse
    optimizer  sgd(lr = 1e9)
    batch_size 20
    epochs     3
}
"""


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "netspec-prefetch"]


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_prefetched_runs_train_the_same_weights(backend: str, tmp_path: Path) -> None:
    pytest.importorskip(backend if backend != "numpy" else "numpy")
    program = netspec.load(AUGMENTED)  # augmented, so the thread makes the draws too
    runs = {}
    for prefetch in (False, True):
        out = tmp_path / f"prefetch-{prefetch}"
        fit(program, backend=backend, out=out, progress=False, prefetch=prefetch)
        runs[prefetch] = out / "weights.safetensors"
    assert_same_weights(runs[False], runs[True])
    assert not _prefetch_threads()


def test_a_diverging_run_leaves_no_prefetch_thread(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged, match="training diverged at epoch 1, step"):
        fit(netspec.load(DIVERGING), out=tmp_path / "run", progress=False, prefetch=True)
    assert not _prefetch_threads()


def test_an_interrupted_run_leaves_no_prefetch_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netspec.backends.numpy._train import NumpyTrainStep

    original = NumpyTrainStep.step
    calls = 0

    def interrupted(self: NumpyTrainStep, *args: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:  # mid-epoch 2: the producer is running ahead
            raise KeyboardInterrupt
        original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(NumpyTrainStep, "step", interrupted)
    with pytest.raises(TrainingInterrupted):
        fit(netspec.load(AUGMENTED), out=tmp_path / "run", progress=False, prefetch=True)
    assert not _prefetch_threads()
