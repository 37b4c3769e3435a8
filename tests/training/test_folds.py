"""k-fold cross-validation: one run per fold under a parent directory, each fold's final
validation metrics and their mean ± std, from the library and the command line."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

import netspec
from netspec.cli import main
from netspec.errors import NetspecError
from netspec.ir import Program
from netspec.training import fit
from tests.training.conftest import TINY


def test_three_folds_train_three_runs_and_summarise_them(tiny: Program, tmp_path: Path) -> None:
    outcome = netspec.cross_validate(tiny, folds=3, epochs=1, out=tmp_path / "cv", progress=False)
    assert [r.run_dir for r in outcome.folds] == [tmp_path / "cv" / f"fold-{k}" for k in (1, 2, 3)]
    sizes = []
    for k, result in enumerate(outcome.folds, start=1):
        record = json.loads((result.run_dir / "run.json").read_text())
        assert record["fold"] == {"index": k, "of": 3}
        assert "validation" in record["data"]
        sizes.append(int(record["data"].split("validation")[1].split()[0]))
    assert sum(sizes) == 160  # limit = 160: every training sample held out once
    summary = json.loads((tmp_path / "cv" / "folds.json").read_text())
    accuracies = [r.final["val_accuracy"] for r in outcome.folds]
    assert summary["final"] == [r.final for r in outcome.folds]
    assert math.isclose(summary["mean"]["val_accuracy"], statistics.mean(accuracies))
    assert math.isclose(summary["std"]["val_accuracy"], statistics.stdev(accuracies))
    assert outcome.metrics["val_loss"].values == [r.final["val_loss"] for r in outcome.folds]


def test_the_command_prints_each_fold_and_the_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "tiny.net"
    spec.write_text(TINY)
    out = tmp_path / "cv"
    code = main(["train", str(spec), "--folds", "2", "--epochs", "1", "--out", str(out), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    summary = json.loads((out / "folds.json").read_text())
    for k, final in enumerate(summary["final"], start=1):
        assert f"fold {k}/2: validation loss {final['val_loss']:.4f}" in printed
    mean, std = summary["mean"]["val_loss"], summary["std"]["val_loss"]
    assert f"2-fold cross-validation: validation loss {mean:.4f} ± {std:.4f}" in printed
    assert f"run directory: {out}" in printed


def test_resume_is_refused_with_folds(
    tmp_path: Path, tiny_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", tiny_file, "--folds", "2", "--resume", str(tmp_path)])
    assert code == 2
    assert "--folds starts new runs" in capsys.readouterr().err


@pytest.mark.parametrize(("folds", "expected"), [(1, "found 1"), (2.0, "found 2.0")])
def test_a_bad_number_of_folds_is_an_error(tiny: Program, folds: object, expected: str) -> None:
    with pytest.raises(NetspecError, match="folds must be an integer >= 2") as info:
        netspec.cross_validate(tiny, folds=folds)  # type: ignore[arg-type]
    assert expected in str(info.value)


def test_a_parent_that_holds_folds_is_refused(tiny: Program, tmp_path: Path) -> None:
    (tmp_path / "fold-1").mkdir()
    with pytest.raises(NetspecError, match=r"already holds cross-validation runs \(fold-1\)"):
        netspec.cross_validate(tiny, folds=2, out=tmp_path, progress=False)


def test_a_resumed_fold_run_keeps_its_fold(tiny: Program, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = fit(tiny, out=run, fold=(2, 4), stop_after=1, progress=False)
    with pytest.raises(NetspecError, match=r"fold 1 of 4 contradicts .*started fold 2 of 4"):
        fit(tiny, resume=run, fold=(1, 4), progress=False)
    rest = fit(tiny, resume=run, progress=False)
    assert rest.history[0] == first.history[0]
    whole = fit(tiny, out=tmp_path / "whole", fold=(2, 4), progress=False)
    assert rest.final == whole.final  # the same fold, so the same validation split


def test_overrides_apply_to_every_fold(tmp_path: Path) -> None:
    outcome = netspec.cross_validate(
        TINY, folds=2, epochs=1, out=tmp_path / "cv", progress=False,
        overrides={"optimizer.lr": 0.05},
    )  # fmt: skip
    for result in outcome.folds:
        record = json.loads((result.run_dir / "run.json").read_text())
        assert record["train"]["optimizer"]["lr"] == 0.05
        assert record["overrides"] == ["optimizer.lr=0.05"]
