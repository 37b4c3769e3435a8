"""ema: the moving average of the weights is the recursion over the weights after each
step, saved and evaluated beside the raw weights, and continued exactly on resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.data import load_dataset
from netspec.ir import Program
from netspec.training import fit
from netspec.training.evaluate import evaluate
from netspec.training.hooks import EMA_WEIGHTS, RunHooks
from netspec.weights import load_weights
from tests.training.conftest import assert_same_weights

SPEC = """netspec 1
model net(x: [64]) {{
    dense(16) -> batchnorm -> relu
    dense(10)
}}
train net {{
    data       digits(flatten = true, limit = 160, validation = 0.25)
    loss       softmax_cross_entropy
    optimizer  adam(lr = 0.01)
    batch_size 40
    epochs     2
    seed       5
{ema}}}
"""
DECAY = 0.8


@pytest.fixture
def averaged() -> Program:
    return netspec.load(SPEC.format(ema=f"    ema {DECAY}\n"))


def test_the_average_is_the_recursion_over_each_steps_weights(
    averaged: Program, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    after: list[dict[str, np.ndarray]] = []
    original = RunHooks.after_step

    def recording(self: RunHooks) -> None:
        after.append(self.compiled.parameters())
        original(self)

    monkeypatch.setattr(RunHooks, "after_step", recording)
    result = fit(averaged, dtype="float64", out=tmp_path / "run", progress=False)
    assert len(after) == 2 * 3  # two epochs of 120 samples in batches of 40
    expected = {name: value.copy() for name, value in after[0].items()}
    for weights in after[1:]:
        for name, value in weights.items():
            expected[name] = DECAY * expected[name] + (1 - DECAY) * value
    saved = load_weights(result.run_dir / EMA_WEIGHTS)
    for name, value in expected.items():
        np.testing.assert_allclose(saved[name], value, rtol=1e-13, atol=1e-15, err_msg=name)
    # Running statistics are the trained model's, not averaged.
    raw = load_weights(result.run_dir / "weights.safetensors")
    for name in set(raw) - set(expected):
        np.testing.assert_array_equal(saved[name], raw[name])
    assert set(saved) == set(raw)


def test_the_averaged_weights_are_evaluated_beside_the_raw_ones(
    averaged: Program, tmp_path: Path
) -> None:
    result = fit(averaged, out=tmp_path / "run", progress=False)
    spec = averaged.trains[0]
    data = load_dataset(
        spec.data, input_shape=(64,), output_shape=(10,), loss_kind=spec.loss.kind, seed=spec.seed
    )
    model = netspec.compile(averaged, backend="numpy", params=result.run_dir / EMA_WEIGHTS)
    assert data.validation is not None and data.test is not None
    for prefix, split in (("val_ema", data.validation), ("test_ema", data.test)):
        figures = evaluate(model, split, spec.loss).as_dict(prefix)
        assert figures == {key: result.final[key] for key in figures}
        assert figures == {key: result.history[-1][key] for key in figures}
    final = json.loads((result.run_dir / "final.json").read_text())
    assert final["val_ema_accuracy"] == result.final["val_ema_accuracy"]
    assert result.final["val_loss"] != result.final["val_ema_loss"]


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_averaging_leaves_the_raw_training_unchanged(tmp_path: Path, backend: str) -> None:
    pytest.importorskip(backend, reason=f"{backend} is not installed")
    plain = fit(
        netspec.load(SPEC.format(ema="")), backend=backend, out=tmp_path / "plain", progress=False
    )
    averaged = fit(
        netspec.load(SPEC.format(ema="    ema 0.9\n")),
        backend=backend,
        out=tmp_path / "ema",
        progress=False,
    )
    assert_same_weights(
        plain.run_dir / "weights.safetensors", averaged.run_dir / "weights.safetensors"
    )
    assert not (plain.run_dir / EMA_WEIGHTS).exists()
    for row, other in zip(plain.history, averaged.history, strict=True):
        assert row["val_loss"] == other["val_loss"]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_resumed_run_continues_the_average_exactly(
    averaged: Program, tmp_path: Path, backend: str
) -> None:
    pytest.importorskip(backend, reason=f"{backend} is not installed")
    whole = fit(averaged, backend=backend, out=tmp_path / "whole", progress=False)
    run = tmp_path / "run"
    fit(averaged, backend=backend, out=run, progress=False, stop_after=1)
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["ema"] == "epoch-0001.ema.safetensors" and state["ema"] in state["sha256"]
    fit(averaged, backend=backend, resume=run, progress=False)
    assert_same_weights(whole.run_dir / EMA_WEIGHTS, run / EMA_WEIGHTS)
    assert_same_weights(whole.run_dir / "weights.safetensors", run / "weights.safetensors")


def test_ema_and_augmentation_are_part_of_the_fingerprint() -> None:
    """Set, they change what the weights depend on, so a run cannot resume across them;
    left out, the fingerprint is the one runs had before they existed (test_autoencoder)."""
    from netspec.training.start import fingerprint

    def of(ema: str = "", augment: str = "") -> str:
        text = (
            SPEC.format(ema=ema)
            .replace("x: [64]", "x: [1, 8, 8]")
            .replace("dense(16) ->", "flatten -> dense(16) ->")
            .replace("flatten = true, ", "")
            .replace("validation = 0.25)", f"validation = 0.25{augment})")
        )
        program = netspec.load(text)
        section = program.train("net")
        assert section is not None
        return fingerprint(program.model(), section)

    plain = of()
    assert of(ema="    ema 0.9\n") not in (plain, of(ema="    ema 0.99\n"))
    flipped = of(augment=", augment = [horizontal_flip]")
    assert flipped not in (plain, of(augment=", augment = [random_crop(1)]"))


def test_the_free_space_check_counts_the_average(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netspec.training import rundir

    asked: list[int] = []
    monkeypatch.setattr(rundir, "check_free_space", lambda path, need: asked.append(need))
    for ema in ("", "    ema 0.9\n"):
        fit(
            netspec.load(SPEC.format(ema=ema)),
            out=tmp_path / str(len(asked)),
            progress=False,
            epochs=1,
        )
    weights = load_weights(tmp_path / "0" / "weights.safetensors")
    # Two checkpoints of the average and weights_ema.safetensors.
    assert asked[1] - asked[0] == 3 * sum(a.nbytes for a in weights.values())
