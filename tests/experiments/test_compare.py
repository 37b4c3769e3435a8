"""`netspec compare`: runs labelled by what differs between them, their curves in one
picture, and a table of final metrics equal to each run's last metrics.jsonl row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import netspec
from netspec.cli import main
from netspec.errors import NetspecError
from netspec.experiments.compare import compare, held_out_split, label_runs, read_run
from netspec.training import fit
from tests.training.conftest import TINY

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _last_row(run: Path) -> dict:
    return json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])


@pytest.fixture(scope="module")
def two_rates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two runs of the tiny spec that differ only in the learning rate."""
    root = tmp_path_factory.mktemp("runs")
    program = netspec.load(TINY)
    for name, lr in (("fast", 0.1), ("slow", 0.01)):
        fit(program, lr=lr, epochs=2, out=root / name, progress=False)
    return root / "fast", root / "slow"


def test_runs_that_differ_in_lr_are_labelled_by_it(
    two_rates: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = tmp_path / "curves.png"
    code = main(["compare", *map(str, two_rates), "-o", str(picture)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert picture.read_bytes().startswith(PNG_MAGIC)
    lines = printed.splitlines()
    for label, run in zip(("lr=0.1", "lr=0.01"), two_rates, strict=True):
        row = next(line for line in lines if line.startswith(label + " "))
        last = _last_row(run)
        assert f" {last['val_loss']:.4f} " in row
        assert f" {last['train_accuracy'] * 100:.2f}%" in row
        assert f" {last['epoch']} " in row


def test_the_json_table_holds_the_last_rows(
    two_rates: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["compare", *map(str, two_rates), "-o", str(tmp_path / "c.png"), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [run["label"] for run in report["runs"]] == ["lr=0.1", "lr=0.01"]
    assert [run["differs"] for run in report["runs"]] == [{"lr": 0.1}, {"lr": 0.01}]
    assert [run["final"] for run in report["runs"]] == [_last_row(r) for r in two_rates]


def test_runs_of_different_models_are_labelled_by_model_and_settings(
    two_rates: tuple[Path, Path], tmp_path: Path
) -> None:
    other = TINY.replace("model net(", "model wide(").replace("train net", "train wide")
    fit(netspec.load(other), lr=0.1, epochs=1, out=tmp_path / "wide", progress=False)
    runs = compare([two_rates[0], tmp_path / "wide"])
    assert [run.label for run in runs] == ["net, epochs=2", "wide, epochs=1"]


def test_a_model_change_is_named_by_its_node(two_rates: tuple[Path, Path], tmp_path: Path) -> None:
    wider = TINY.replace("dense(16)", "dense(32)")
    fit(netspec.load(wider), lr=0.1, epochs=2, out=tmp_path / "wider", progress=False)
    runs = compare([two_rates[0], tmp_path / "wider"])
    assert [run.label for run in runs] == ["dense_1.units=16", "dense_1.units=32"]


def test_recorded_overrides_name_the_difference(two_rates: tuple[Path, Path]) -> None:
    runs = [read_run(two_rates[0]), read_run(two_rates[1])]
    runs[0].record["overrides"] = {"optimizer.lr": 0.1}
    runs[1].record["overrides"] = {"optimizer.lr": 0.01}
    # The override names the setting; the resolved lr it set is not repeated.
    assert label_runs(runs) == ["optimizer.lr=0.1", "optimizer.lr=0.01"]


def test_an_override_of_a_whole_setting_names_its_arguments(
    two_rates: tuple[Path, Path],
) -> None:
    runs = [read_run(two_rates[0]), read_run(two_rates[1])]
    runs[0].record["overrides"] = ["optimizer=adam(lr = 0.1)"]
    runs[1].record["overrides"] = ["optimizer=sgd(lr = 0.01, momentum = 0.9)"]
    runs[0].record["train"]["optimizer"].update(kind="adam", momentum=None)
    runs[1].record["train"]["optimizer"].update(kind="sgd", momentum=0.9)
    # The optimizer's kind, lr and momentum are what the override wrote: not repeated.
    assert label_runs(runs) == [
        "optimizer=adam(lr = 0.1)",
        "optimizer=sgd(lr = 0.01, momentum = 0.9)",
    ]


def test_the_test_split_is_drawn_where_no_run_has_a_validation_split(
    two_rates: tuple[Path, Path],
) -> None:
    runs = [read_run(two_rates[0]), read_run(two_rates[1])]
    assert held_out_split(runs) == "val"
    for run in runs:
        run.history = [
            {k: v for k, v in row.items() if not k.startswith("val_")} for row in run.history
        ]
    assert all("test_accuracy" in row for run in runs for row in run.history)
    assert held_out_split(runs) == "test"


def test_runs_that_differ_in_nothing_are_told_apart_by_directory(
    two_rates: tuple[Path, Path],
) -> None:
    runs = compare([two_rates[0], two_rates[0]])
    assert [run.label for run in runs] == ["fast", "fast"]


def test_a_directory_that_is_not_a_run_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("x")
    assert main(["compare", str(tmp_path), "-o", str(tmp_path / "c.png")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} is not a run directory: it has no run.json" in err
    assert "found: notes.txt" in err
    assert not (tmp_path / "c.png").exists()
    with pytest.raises(NetspecError, match="does not exist"):
        read_run(tmp_path / "absent")


def test_a_run_with_no_epoch_yet_is_an_error(two_rates: tuple[Path, Path], tmp_path: Path) -> None:
    # What a run holds during its first epoch: its records and an empty metrics.jsonl.
    for name in ("run.json", "ir.json"):
        (tmp_path / name).write_bytes((two_rates[0] / name).read_bytes())
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(NetspecError, match="has no completed epoch yet"):
        read_run(tmp_path)


def test_overrides_the_programs_were_read_with_label_them(tmp_path: Path) -> None:
    # A sweep's trial, or `--set let.width=...`: ir.json records the overrides, and the
    # layer the constant sized differs in step with it, so only the override is named.
    spec = TINY.replace("netspec 1\n", "netspec 1\nlet width = 16\n").replace(
        "dense(16)", "dense(width)"
    )
    for width in (16, 24):
        program = netspec.load(spec, overrides={"let.width": width})
        fit(program, epochs=1, out=tmp_path / f"w{width}", progress=False)
    runs = compare([tmp_path / "w16", tmp_path / "w24"])
    assert [run.label for run in runs] == ["let.width=16", "let.width=24"]
    assert runs[1].differs == {"let.width": 24}
