"""The shared loop: resume is bit-exact, early stopping restores the best weights,
divergence stops with a located message, and the run directory holds what it says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.ir import Program
from netspec.training import TrainingDiverged, epochs, fit
from netspec.weights import load_weights
from tests.backends.conftest import backend_params

# Dropout, batchnorm, adam, a schedule with warm-up and an l2 penalty: everything whose
# state a resumed run must restore.
RESUMABLE = """
netspec 1
model net(x: [64]) {
    dense(32) -> batchnorm -> relu -> dropout(0.3)
    dense(10)
}
train net {
    data       digits(flatten = true, limit = 240, validation = 0.25)
    loss       softmax_cross_entropy
    optimizer  adam(lr = 0.01)
    schedule   cosine(t_max = 4, warmup = 1)
    regularize l2(1e-3)
    batch_size 32
    epochs     4
    seed       3
}
"""


def _program(text: str = RESUMABLE) -> Program:
    return netspec.load(text)


@pytest.mark.parametrize("backend", backend_params())
def test_resume_after_interruption_is_bit_exact(backend: str, tmp_path: Path) -> None:
    program = _program()
    whole = fit(program, backend=backend, out=tmp_path / "whole", progress=False, dtype="float64")
    first = fit(
        program,
        backend=backend,
        out=tmp_path / "split",
        progress=False,
        dtype="float64",
        stop_after=2,
    )
    assert len(first.history) == 2
    rest = fit(program, backend=backend, resume=tmp_path / "split", progress=False, dtype="float64")
    assert [row["epoch"] for row in rest.history] == [1, 2, 3, 4]
    a = load_weights(tmp_path / "whole" / "weights.safetensors")
    b = load_weights(tmp_path / "split" / "weights.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert whole.history[-1]["train_loss"] == rest.history[-1]["train_loss"]


def test_run_directory_contents(tmp_path: Path) -> None:
    result = fit(_program(), out=tmp_path / "run", progress=False, epochs=2)
    run = result.run_dir
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    row = json.loads(lines[-1])
    for key in (
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "test_loss",
        "test_accuracy",
        "lr",
        "epoch_time",
    ):
        assert key in row
    assert Program.model_validate_json((run / "ir.json").read_text()) == _program()
    meta = json.loads((run / "run.json").read_text())
    assert meta["seed"] == 3 and meta["backend"] == "numpy" and "numpy" in meta["versions"]
    assert (run / "weights.safetensors").exists()
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 2 and (run / "checkpoints" / state["weights"]).exists()
    # Only the latest epoch's checkpoint files are kept.
    assert len(list((run / "checkpoints").glob("epoch-*.weights.safetensors"))) == 1


def test_the_final_figures_are_the_last_epochs_without_evaluating_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The final weights are the ones the last epoch measured: finish() reuses its figures.
    evaluated: list[int] = []
    evaluate = epochs.evaluate

    def counting(compiled: object, split: object, *args: object, **kwargs: object) -> object:
        evaluated.append(len(split))  # type: ignore[arg-type]
        return evaluate(compiled, split, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(epochs, "evaluate", counting)
    result = fit(_program(), out=tmp_path / "run", progress=False, epochs=2)
    assert len(evaluated) == 2 * 2  # validation and test, once per epoch, none after
    last = result.history[-1]
    assert result.final and result.final == {key: last[key] for key in result.final}
    assert set(result.final) == {k for k in last if k.startswith(("val_", "test_"))}
    assert json.loads((result.run_dir / "final.json").read_text()) == result.final
    assert (result.run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_a_new_run_refuses_a_directory_holding_a_run(tmp_path: Path) -> None:
    fit(_program(), out=tmp_path / "run", progress=False, epochs=1)
    with pytest.raises(netspec.NetspecError, match="--resume"):
        fit(_program(), out=tmp_path / "run", progress=False, epochs=1)


def test_resume_refuses_another_backend_or_a_changed_spec(tmp_path: Path) -> None:
    fit(_program(), out=tmp_path / "run", progress=False, stop_after=1)
    with pytest.raises(netspec.NetspecError, match="backend numpy"):
        fit(_program(), resume=tmp_path / "run", progress=False, dtype="float64")
    changed = _program(RESUMABLE.replace("dense(32)", "dense(33)"))
    with pytest.raises(netspec.NetspecError, match="spec has changed"):
        fit(changed, resume=tmp_path / "run", progress=False)


def test_early_stopping_stops_and_restores_the_best_weights(tmp_path: Path) -> None:
    text = (
        RESUMABLE.replace("epochs     4", "epochs     30")
        .replace(
            "seed       3", "seed       3\n    early_stopping monitor = val_loss, patience = 2"
        )
        .replace("adam(lr = 0.01)", "adam(lr = 0.2)")
    )
    result = fit(_program(text), out=tmp_path / "run", progress=False)
    assert result.stopped_early and len(result.history) < 30
    losses = [row["val_loss"] for row in result.history]
    best = int(np.argmin(losses))
    assert len(losses) - 1 - best == 2  # stopped after `patience` epochs without improvement
    assert result.final["val_loss"] == pytest.approx(losses[best], rel=1e-6)


def test_divergence_names_epoch_step_parameter_and_spec_line(tmp_path: Path) -> None:
    text = """
netspec 1
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
    with pytest.raises(TrainingDiverged) as raised:
        fit(
            _program(text).model_copy(),
            out=tmp_path / "run",
            progress=False,
            data="digits(flatten = true, limit = 200, one_hot = true)",
        )
    message = str(raised.value)
    assert "training diverged at epoch 1, step" in message
    assert "dense_" in message and "<string>:" in message
    assert "clip norm(1.0)" in message


def test_overrides_are_validated_like_the_spec(tmp_path: Path) -> None:
    with pytest.raises(netspec.NetspecError, match="did you mean 'digits'"):
        fit(_program(), data="digitz", out=tmp_path / "r", progress=False)
    with pytest.raises(netspec.NetspecError, match="--epochs"):
        fit(_program(), epochs=0, out=tmp_path / "r2", progress=False)


def test_early_stopping_on_an_unmeasured_split_fails_before_training(tmp_path: Path) -> None:
    # The spec has a validation split (netspec check refuses one without); data given at
    # run time without it is caught before training.
    text = RESUMABLE.replace(
        "seed       3", "seed       3\n    early_stopping monitor = val_accuracy"
    )
    with pytest.raises(netspec.NetspecError, match=r"add validation = 0\.1"):
        fit(
            _program(text),
            data="digits(flatten = true, limit = 240)",
            out=tmp_path / "run",
            progress=False,
        )
    assert not (tmp_path / "run").exists()


def test_library_train_returns_history_and_model(tmp_path: Path) -> None:
    result = netspec.train(RESUMABLE, epochs=1, out=tmp_path / "run", progress=False)
    assert len(result.history) == 1
    out = result.model.forward(np.zeros((2, 64), dtype=np.float32))
    assert out.shape == (2, 10)
