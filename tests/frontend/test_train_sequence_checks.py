"""`netspec check` on the sequence sources (sine, adding, copy): located argument errors
with did-you-mean, and their samples and targets against the model (E031)."""

from __future__ import annotations

import pytest

from netspec import analyze
from netspec.diagnostics import Diagnostic

FILE = "t.net"
TEXT = """model m(x: {input}) {{
    {body}
}}
train m {{
    data {data}
    loss {loss}
    optimizer sgd(lr = 0.1)
}}
"""
DATA, LOSS = 5, 6


def diagnostics(data: str, *, input: str, body: str, loss: str = "mse") -> list[Diagnostic]:
    text = TEXT.format(input=input, body=body, data=data, loss=loss)
    return [d for d in analyze(text, FILE).diagnostics if d.severity == "error"]


@pytest.mark.parametrize(
    ("data", "input", "body", "loss"),
    [
        ("sine(length = 12)", "[12, 1]", "flatten -> dense(1)", "mse"),
        ("sine(12, noise = 0.01)", "[12]", "dense(1)", "l1"),
        ("adding(length = 30)", "[30, 2]", "flatten -> dense(1)", "mse"),
        ("copy(5, symbols = 4, remember = 3)", "[11, 6]",
         "flatten -> dense(12) -> reshape(3, 4)", "binary_cross_entropy"),
    ],
)  # fmt: skip
def test_matching_models_are_clean(data: str, input: str, body: str, loss: str) -> None:
    assert diagnostics(data, input=input, body=body, loss=loss) == []


def _one(found: list[Diagnostic]) -> Diagnostic:
    assert len(found) == 1, [(d.code, d.message) for d in found]
    return found[0]


def _at(d: Diagnostic) -> tuple[int, int]:
    assert d.span is not None
    return d.span.line, d.span.column


def test_a_misspelt_argument_gets_did_you_mean_at_its_name() -> None:
    d = _one(diagnostics("adding(lenght = 30)", input="[30, 2]", body="flatten -> dense(1)"))
    assert d.code == "E004" and _at(d) == (DATA, 17)
    assert "adding has no argument 'lenght'" in d.message and d.help == ("did you mean 'length'?",)


@pytest.mark.parametrize(
    ("data", "column", "message"),
    [
        ("adding(length = 1)", 26, "adding: length must be >= 2"),
        ("adding(1)", 17, "adding: length must be >= 2"),
        ("sine(length = 0)", 24, "sine: length must be > 0"),
        ("sine(max_frequency = 0.7)", 31, "sine: max_frequency must be in (0, 0.5), found 0.7"),
        ("sine(min_frequency = 0.2, max_frequency = 0.1)", 31, "min_frequency = 0.2 is above"),
        ("copy(symbols = 0)", 25, "copy: symbols must be > 0"),
    ],
)
def test_bad_values_are_located_at_the_argument(data: str, column: int, message: str) -> None:
    d = _one(diagnostics(data, input="[4, 2]", body="flatten -> dense(1)"))
    assert d.code == "E004" and _at(d) == (DATA, column)
    assert message in d.message


def test_samples_of_the_wrong_shape_are_reported_at_the_data() -> None:
    d = _one(diagnostics("sine(length = 12)", input="[12, 2]", body="flatten -> dense(1)"))
    assert d.code == "E031" and _at(d) == (DATA, 5)
    assert "data sine gives samples of shape [12, 1]" in d.message


def test_copy_targets_against_the_output_and_the_loss() -> None:
    d = _one(
        diagnostics("copy", input="[40, 10]", body="flatten -> dense(80)",
                    loss="binary_cross_entropy")
    )  # fmt: skip
    assert d.code == "E031" and "makes targets of shape [10, 8]" in d.message
    assert d.help == ("make the model's output [10, 8]",)
    d = _one(
        diagnostics("copy", input="[40, 10]", body="flatten -> dense(80) -> reshape(10, 8)",
                    loss="softmax_cross_entropy")
    )  # fmt: skip
    assert d.code == "E031" and _at(d) == (LOSS, 5)
    assert "one class distribution per sample" in d.message


def test_regression_sources_refuse_classification_losses() -> None:
    d = _one(
        diagnostics("adding(length = 8)", input="[8, 2]", body="flatten -> dense(1)",
                    loss="softmax_cross_entropy")
    )  # fmt: skip
    assert d.code == "E031" and "data adding makes real-valued targets" in d.message
