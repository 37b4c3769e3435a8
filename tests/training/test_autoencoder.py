"""`target input` trains an autoencoder through the shared loop, and resumes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import netspec
from netspec.cli import main
from netspec.training import fit
from netspec.training.start import _as_written, fingerprint
from tests.backends.conftest import backend_params
from tests.training.conftest import TINY

AUTOENCODER = """netspec 1
model ae(x: [1, 8, 8]) {
    flatten -> dense(16) -> relu
    dense(64) -> reshape(1, 8, 8)
}
train ae {
    data       digits(limit = 400, validation = 0.25)
    loss       mse
    optimizer  adam(lr = 0.01)
    batch_size 25
    epochs     4
    seed       1
    metrics    loss, mae
    target     input
}
"""


@pytest.mark.parametrize("backend", backend_params())
def test_an_autoencoder_on_digits_learns_to_reconstruct(backend: str, tmp_path: Path) -> None:
    result = fit(netspec.load(AUTOENCODER), backend=backend, out=tmp_path / "run", progress=False)
    train = [row["train_loss"] for row in result.history]
    val = [row["val_loss"] for row in result.history]
    assert train[-1] < 0.6 * train[0], train
    assert val[-1] < val[0], val
    assert all(row["val_accuracy"] is None for row in result.history)
    assert result.history[-1]["val_mae"] < result.history[0]["val_mae"]


def test_netspec_eval_reconstructs_the_test_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "ae.net"
    spec.write_text(AUTOENCODER.replace("epochs     4", "epochs     1"))
    run = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(run), "--quiet"]) == 0
    final = json.loads((run / "final.json").read_text())
    capsys.readouterr()
    assert main(["eval", str(spec), "--weights", str(run)]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"test: loss {final['test_loss']:.4f}, mae {final['test_mae']:.4f}")


def test_fingerprints_of_runs_without_target_input_are_unchanged() -> None:
    """A run started before `target` (and `ema`, `precision`, and a source's `augment`)
    existed resumes: their defaults are not hashed."""
    plain = netspec.load(TINY)
    model = plain.model()
    section = plain.train(model.name)
    assert section is not None and section.target == "data"
    before = {
        "model": _as_written(model),
        "train": section.model_dump(
            mode="json",
            exclude={
                "epochs": True,
                "target": True,
                "ema": True,
                "precision": True,
                "data": {"augment"},
            },
        ),
    }
    text = json.dumps(before, sort_keys=True, separators=(",", ":"))
    assert fingerprint(model, section) == hashlib.sha256(text.encode()).hexdigest()
    # Written out, the default changes nothing; target input is part of the fingerprint.
    explicit = netspec.load(
        TINY.replace("    seed       1\n", "    seed       1\n    target data\n")
    )
    assert explicit.train(model.name).target == "data"  # type: ignore[union-attr]
    assert fingerprint(explicit.model(), explicit.train(model.name)) == fingerprint(model, section)  # type: ignore[arg-type]
    autoencoder = netspec.load(AUTOENCODER)
    trained = autoencoder.train("ae")
    assert trained is not None and trained.target == "input"
    dumped = trained.model_dump(mode="json", exclude={"epochs"})
    assert dumped["target"] == "input"
    assert fingerprint(autoencoder.model(), trained) != fingerprint(
        autoencoder.model(), trained.model_copy(update={"target": "data"})
    )
