"""mae and top_k_accuracy: hand-computed values on a tiny model, the same on every
backend, and reported in metrics.jsonl, final.json, the console and `netspec eval`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.backend import CompiledModel, get_backend
from netspec.cli import main
from netspec.data import Split
from netspec.errors import NetspecError
from netspec.ir.train import MeanSquaredError, SoftmaxCrossEntropy, TopKAccuracy
from netspec.training import evaluate, fit
from netspec.training.metrics import check_metrics, top_k_hits
from netspec.training.progress import format_metrics
from tests.backends.conftest import backend_params

IDENTITY = "netspec 1\nmodel m(x: [{n}]) {{\n    dense({n})\n}}\n"


def _identity(backend: str, n: int) -> CompiledModel:
    """A dense layer whose output is its input: the metrics see the written outputs."""
    model = netspec.load(IDENTITY.format(n=n)).model()
    params = {"dense_1.weight": np.eye(n), "dense_1.bias": np.zeros(n)}
    return get_backend(backend).compile(model, dtype="float64", params=params)


@pytest.mark.parametrize("backend", backend_params())
def test_top_k_accuracy_by_hand(backend: str) -> None:
    scores = np.array(
        [
            [0.9, 0.5, 0.1, 0.0],  # label 0: the largest            -> top-1, top-2
            [0.9, 0.5, 0.1, 0.0],  # label 1: second                 -> top-2
            [0.9, 0.5, 0.1, 0.0],  # label 3: last                   -> neither
            [0.2, 0.7, 0.7, 0.1],  # label 2: tied for the largest   -> top-1, top-2
            [0.1, 0.3, 0.2, 0.6],  # label 2: third                  -> neither
        ]
    )
    labels = np.array([0, 1, 3, 2, 2])
    compiled = _identity(backend, 4)
    metrics = evaluate(
        compiled,
        Split(scores, labels),
        SoftmaxCrossEntropy(),
        batch_size=2,  # sums across batches, not a mean of batch means
        metrics=("loss", TopKAccuracy(k=1), TopKAccuracy(k=2), TopKAccuracy(k=4)),
    )
    assert metrics.extra == {
        "top_1_accuracy": pytest.approx(2 / 5),
        "top_2_accuracy": pytest.approx(3 / 5),
        "top_4_accuracy": pytest.approx(1.0),
    }
    # The loss's own accuracy stays top-1 by argmax, which gives a tie to the first
    # class: only the first row is a hit.
    assert metrics.accuracy == pytest.approx(1 / 5)
    row = metrics.as_dict("val")
    assert row["val_top_2_accuracy"] == pytest.approx(3 / 5) and "val_loss" in row
    # One-hot targets count their hot class as the label.
    assert top_k_hits(scores, np.eye(4)[labels], 2) == 3


@pytest.mark.parametrize("backend", backend_params())
def test_mae_by_hand(backend: str) -> None:
    outputs = np.array([[1.0, -2.0], [0.5, 3.0], [0.0, 0.0]])
    targets = np.array([[0.0, -2.5], [1.5, 3.0], [-1.0, 2.0]])
    # |1| + |0.5| + |-1| + |0| + |1| + |-2| = 5.5 over 6 values.
    compiled = _identity(backend, 2)
    metrics = evaluate(
        compiled, Split(outputs, targets), MeanSquaredError(), batch_size=2, metrics=("mae",)
    )
    assert metrics.extra == {"mae": pytest.approx(5.5 / 6)}
    assert metrics.loss == pytest.approx((1 + 0.25 + 1 + 0 + 1 + 4) / 6)
    assert metrics.accuracy is None


def test_metrics_the_loss_cannot_measure_are_refused() -> None:
    with pytest.raises(NetspecError, match="mae measures the outputs of a regression loss"):
        check_metrics(("mae",), "softmax_cross_entropy", (10,))
    with pytest.raises(NetspecError, match=r"top_k_accuracy\(5\) needs softmax_cross_entropy"):
        check_metrics((TopKAccuracy(k=5),), "mse", (1,))
    with pytest.raises(NetspecError, match=r"needs 1 <= k <= the number of classes"):
        check_metrics((TopKAccuracy(k=11),), "softmax_cross_entropy", (10,))
    check_metrics(("loss", "accuracy", TopKAccuracy(k=10)), "softmax_cross_entropy", (10,))


CLASSIFIER = """netspec 1
model net(x: [64]) {
    dense(10)
}
train net {
    data       digits(flatten = true, limit = 200, validation = 0.25)
    loss       softmax_cross_entropy
    optimizer  adam(lr = 0.01)
    batch_size 50
    epochs     2
    metrics    loss, accuracy, top_k_accuracy(3)
}
"""


def test_a_run_reports_its_metrics_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "net.net"
    spec.write_text(CLASSIFIER)
    run = tmp_path / "run"
    assert main(["train", str(spec), "--out", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    for row in rows:
        # Top-3 hits include the top-1 hits.
        assert row["val_accuracy"] <= row["val_top_3_accuracy"] <= 1.0
        assert row["test_accuracy"] <= row["test_top_3_accuracy"] <= 1.0
        assert "train_top_3_accuracy" not in row  # measured on evaluated splits only
    final = json.loads((run / "final.json").read_text())
    assert f"top-3 accuracy {final['test_top_3_accuracy'] * 100:.2f}%" in out
    assert main(["eval", str(spec), "--weights", str(run)]) == 0
    line = capsys.readouterr().out
    assert f"test: loss {final['test_loss']:.4f}" in line
    assert f"top-3 accuracy {final['test_top_3_accuracy'] * 100:.2f}%" in line


def test_the_epoch_line_shows_the_metrics(tmp_path: Path) -> None:
    program = netspec.load(CLASSIFIER.replace("epochs     2", "epochs     1"))
    result = fit(program, out=tmp_path / "run", progress=False)
    line = format_metrics(result.history[0])
    assert f"top3 {result.history[0]['val_top_3_accuracy'] * 100:.2f}%" in line
