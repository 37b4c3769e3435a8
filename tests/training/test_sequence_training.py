"""The sequence sources train through the shared loop: the test loss falls."""

from __future__ import annotations

from pathlib import Path

import pytest

import netspec
from netspec.training import fit

SPEC = """netspec 1
model net(x: {input}) {{
    flatten -> dense(32) -> relu
    {head}
}}
train net {{
    data       {data}
    loss       {loss}
    optimizer  adam(lr = 0.01)
    batch_size 20
    epochs     6
    seed       2
}}
"""


@pytest.mark.parametrize(
    ("data", "input", "head", "loss"),
    [
        ("sine(length = 10, samples = 300)", "[10, 1]", "dense(1)", "mse"),
        ("adding(length = 6, samples = 300)", "[6, 2]", "dense(1)", "mse"),
        ("copy(length = 2, symbols = 3, remember = 2, samples = 300)", "[6, 5]",
         "dense(6) -> reshape(2, 3)", "binary_cross_entropy"),
    ],
)  # fmt: skip
def test_the_test_loss_falls(data: str, input: str, head: str, loss: str, tmp_path: Path) -> None:
    program = netspec.load(SPEC.format(data=data, input=input, head=head, loss=loss))
    result = fit(program, out=tmp_path / "run", progress=False, dtype="float64")
    losses = [row["test_loss"] for row in result.history]
    assert losses[-1] < 0.7 * losses[0], losses


def test_the_adding_cnn_spec_beats_predicting_the_mean(tmp_path: Path) -> None:
    spec = Path(__file__).resolve().parents[2] / "specs" / "adding_cnn.net"
    result = fit(netspec.load(spec), out=tmp_path / "run", progress=False)
    # Predicting the mean scores the variance of the sum of two U(0, 1): 1/6.
    assert result.history[-1]["test_loss"] < (1 / 6) / 10, result.history
