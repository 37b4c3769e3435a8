"""The curves plot of a run: titled with model and run, whole-epoch ticks, the restored
best epoch marked. Checked on the matplotlib figure, not on pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec.training import fit, rundir

pytest.importorskip("matplotlib", reason="the curves plot needs matplotlib (the train extra)")

BEST = "best: epoch 2 (restored)"


def _history(epochs: int, *, accuracy: bool = True) -> list[dict[str, Any]]:
    rows = []
    for epoch in range(1, epochs + 1):
        row: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "val_loss": [0.9, 0.5, 0.7][(epoch - 1) % 3],
        }
        if accuracy:
            row.update(train_accuracy=0.5 + 0.1 * epoch, val_accuracy=[0.6, 0.8, 0.7][epoch - 1])
        rows.append(row)
    return rows


@pytest.mark.parametrize("accuracy", [True, False])
def test_the_figure_names_the_run_and_marks_the_restored_epoch(accuracy: bool) -> None:
    history = _history(3, accuracy=accuracy)
    figure = rundir.curves_figure(history, model="digits", run="digits-demo", best_epoch=2)
    assert figure.get_suptitle() == "digits - digits-demo"
    axes = figure.get_axes()
    assert [axis.get_title() for axis in axes] == (["loss", "accuracy"] if accuracy else ["loss"])
    for axis, metric in zip(axes, ["loss", "accuracy"], strict=False):
        markers = [line for line in axis.get_lines() if line.get_label() == BEST]
        assert len(markers) == 1, [line.get_label() for line in axis.get_lines()]
        assert list(markers[0].get_xdata()) == [2]
        assert list(markers[0].get_ydata()) == [history[1][f"val_{metric}"]]
        assert BEST in [text.get_text() for text in axis.get_legend().get_texts()]
        # A vertical line at the epoch as well, across the whole panel.
        assert any(list(line.get_xdata()) == [2, 2] for line in axis.get_lines())


@pytest.mark.parametrize("epochs", [1, 2, 3])
def test_short_runs_get_whole_epoch_ticks(epochs: int) -> None:
    figure = rundir.curves_figure(_history(epochs))
    for axis in figure.get_axes():
        low, high = axis.get_xlim()
        ticks = [tick for tick in axis.get_xticks() if low <= tick <= high]
        assert ticks, axis.get_xticks()
        assert all(float(tick).is_integer() for tick in ticks), ticks


def test_without_a_restored_epoch_nothing_is_marked() -> None:
    figure = rundir.curves_figure(_history(3), run="r")
    assert figure.get_suptitle() == "r"
    for axis in figure.get_axes():
        assert not [line for line in axis.get_lines() if "best" in str(line.get_label())]


def test_training_marks_the_epoch_early_stopping_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    plot = rundir.plot_curves

    def recording(path: Path, history: list[dict[str, Any]], **kwargs: Any) -> bool:
        calls.append(kwargs)
        return plot(path, history, **kwargs)

    monkeypatch.setattr(rundir, "plot_curves", recording)
    program = netspec.load(
        """
netspec 1
model net(x: [64]) {
    dense(16) -> relu
    dense(10)
}
train net {
    data       digits(flatten = true, limit = 240, validation = 0.25)
    loss       softmax_cross_entropy
    optimizer  adam(lr = 0.5)
    batch_size 32
    epochs     30
    seed       3
    early_stopping monitor = val_loss, patience = 2
}
"""
    )
    result = fit(program, out=tmp_path / "run", progress=False)
    losses = [row["val_loss"] for row in result.history]
    best = losses.index(min(losses)) + 1
    assert calls == [{"model": "net", "best_epoch": best}]
    assert (tmp_path / "run" / "curves.png").read_bytes()[:4] == b"\x89PNG"
