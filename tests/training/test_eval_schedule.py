"""eval_every and test_at_end: which epochs' rows carry validation and test figures,
what watches them, and a resumed run keeping the schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import netspec
from netspec.errors import NetspecError
from netspec.training import fit
from tests.training.conftest import TINY, assert_same_weights


def _rows(run: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _evaluated(rows: list[dict[str, object]], split: str) -> list[object]:
    return [row["epoch"] for row in rows if f"{split}_loss" in row]


def test_eval_every_evaluates_every_nth_epoch_and_the_last(tmp_path: Path) -> None:
    result = fit(netspec.load(TINY), out=tmp_path / "run", progress=False, epochs=5, eval_every=2)
    rows = _rows(tmp_path / "run")
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5]
    assert _evaluated(rows, "val") == _evaluated(rows, "test") == [2, 4, 5]
    assert all(row["train_loss"] is not None for row in rows)
    assert result.final["val_loss"] == rows[-1]["val_loss"]  # the last epoch's figures
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["evaluation"] == {"every": 2, "test_at_end": False}
    assert (tmp_path / "run" / "curves.png").exists()


def test_the_default_evaluates_every_epoch_and_records_nothing(tmp_path: Path) -> None:
    fit(netspec.load(TINY), out=tmp_path / "run", progress=False)
    rows = _rows(tmp_path / "run")
    assert _evaluated(rows, "val") == _evaluated(rows, "test") == [1, 2, 3]
    assert "evaluation" not in json.loads((tmp_path / "run" / "run.json").read_text())


def test_test_at_end_evaluates_the_test_split_at_the_last_epoch_only(tmp_path: Path) -> None:
    result = fit(netspec.load(TINY), out=tmp_path / "run", progress=False, test_at_end=True)
    rows = _rows(tmp_path / "run")
    assert _evaluated(rows, "val") == [1, 2, 3]
    assert _evaluated(rows, "test") == [3]
    assert result.final["test_loss"] == rows[-1]["test_loss"]


def test_a_resumed_run_keeps_its_schedule(tmp_path: Path) -> None:
    program = netspec.load(TINY)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    options = {"progress": False, "epochs": 5}
    fit(program, out=whole, eval_every=2, test_at_end=True, **options)  # type: ignore[arg-type]
    fit(program, out=parts, eval_every=2, test_at_end=True, stop_after=3, **options)  # type: ignore[arg-type]
    with pytest.raises(NetspecError, match=r"--eval-every 1 contradicts the run.*--eval-every 2"):
        fit(program, resume=parts, eval_every=1, **options)  # type: ignore[arg-type]
    fit(program, resume=parts, **options)  # type: ignore[arg-type]
    strip = ("epoch_time", "samples_per_second")
    assert [{k: v for k, v in r.items() if k not in strip} for r in _rows(parts)] == [
        {k: v for k, v in r.items() if k not in strip} for r in _rows(whole)
    ]
    assert _evaluated(_rows(parts), "val") == [2, 4, 5]
    assert _evaluated(_rows(parts), "test") == [5]
    assert_same_weights(whole / "weights.safetensors", parts / "weights.safetensors")


def test_early_stopping_counts_patience_in_evaluations(tmp_path: Path) -> None:
    # Nothing improves by 10 after the first evaluation: with patience 1 the run stops
    # at the second evaluation, epoch 4 (epoch 2 with every epoch evaluated).
    text = TINY.replace("patience = 5", "patience = 1, min_delta = 10").replace(
        "epochs     3", "epochs     8"
    )
    result = fit(netspec.load(text), out=tmp_path / "run", progress=False, eval_every=2)
    assert result.stopped_early
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    every = fit(netspec.load(text), out=tmp_path / "every", progress=False)
    assert [row["epoch"] for row in every.history] == [1, 2]


def test_reduce_on_plateau_waits_for_evaluations(tmp_path: Path) -> None:
    text = TINY.replace(
        "    epochs     3",
        "    epochs     6\n    schedule   reduce_on_plateau(monitor = val_loss, factor = 0.5, "
        "patience = 0, min_delta = 10)",
    )
    result = fit(netspec.load(text), out=tmp_path / "run", progress=False, eval_every=3)
    # The first evaluation (epoch 3) sets the best; the second (epoch 6) does not improve.
    assert [row["lr"] for row in result.history] == [0.01] * 6
    every = fit(netspec.load(text), out=tmp_path / "every", progress=False)
    assert [row["lr"] for row in every.history][:3] == [0.01, 0.01, 0.005]


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("early_stopping monitor = test_loss", "early_stopping"),
        ("schedule reduce_on_plateau(monitor = test_loss)", "reduce_on_plateau"),
    ],
)
def test_watching_the_test_split_with_test_at_end_is_refused(
    line: str, what: str, tmp_path: Path
) -> None:
    text = TINY.replace("    early_stopping monitor = val_loss, patience = 5\n", f"    {line}\n")
    with pytest.raises(NetspecError, match=f"{what} monitors test_.*--test-at-end"):
        fit(netspec.load(text), out=tmp_path / "run", progress=False, test_at_end=True)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"eval_every": 0}, "eval_every must be an integer >= 1, found 0"),
        ({"eval_every": 1.5}, "eval_every must be an integer >= 1"),
        ({"test_at_end": "yes"}, "test_at_end must be True or False"),
    ],
)
def test_bad_options_are_refused_before_loading(options: dict[str, object], message: str) -> None:
    with pytest.raises(NetspecError, match=message):
        netspec.train(TINY, **options)


def test_the_command_line_flags(tiny_file: str, tmp_path: Path) -> None:
    from netspec.cli import main

    run = tmp_path / "run"
    argv = ["train", tiny_file, "--out", str(run), "--quiet", "--eval-every", "2", "--test-at-end"]
    assert main(argv) == 0
    rows = _rows(run)
    assert _evaluated(rows, "val") == [2, 3]
    assert _evaluated(rows, "test") == [3]
