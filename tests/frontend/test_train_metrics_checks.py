"""`netspec check` on the metrics line (mae, top_k_accuracy) and on `target input`."""

from __future__ import annotations

import pytest

from netspec import analyze
from netspec.diagnostics import Diagnostic
from netspec.ir.train import TopKAccuracy

FILE = "t.net"
TEXT = """model m(x: {input}) {{
    {body}
}}
train m {{
    data {data}
    loss {loss}
    optimizer sgd(lr = 0.1)
    {extra}
}}
"""
DATA, LOSS, EXTRA = 5, 6, 8
DIGITS = "digits(flatten = true)"


def diagnostics(
    extra: str,
    *,
    data: str = DIGITS,
    loss: str = "softmax_cross_entropy",
    input: str = "[64]",
    body: str = "dense(10)",
) -> list[Diagnostic]:
    text = TEXT.format(input=input, body=body, data=data, loss=loss, extra=extra)
    return list(analyze(text, FILE).diagnostics)


def _at(d: Diagnostic) -> tuple[int, int]:
    assert d.span is not None
    return d.span.line, d.span.column


def test_metrics_are_read_in_order_once_each() -> None:
    text = TEXT.format(
        input="[64]",
        body="dense(10)",
        data=DIGITS,
        loss="softmax_cross_entropy",
        extra="metrics loss, top_k_accuracy(5), accuracy, top_k_accuracy(k = 5), loss",
    )
    analysis = analyze(text, FILE)
    assert analysis.diagnostics == []
    train = analysis.program.train("m")
    assert train is not None
    assert train.metrics == ("loss", TopKAccuracy(k=5), "accuracy")


def test_mae_on_a_regression_source_is_clean() -> None:
    assert diagnostics("metrics loss, mae", data="linear", loss="mse", input="[2]",
                       body="dense(1)") == []  # fmt: skip


def test_every_bad_metric_is_reported_where_it_is_written() -> None:
    found = diagnostics("metrics top_k_acuracy, mae(3), top_k_accuracy, top_k_accuracy(0)")
    assert [(d.code, _at(d)) for d in found] == [
        ("E002", (EXTRA, 13)),
        ("E004", (EXTRA, 28)),
        ("E005", (EXTRA, 36)),
        ("E004", (EXTRA, 67)),
    ]
    assert found[0].help == ("did you mean 'top_k_accuracy' or 'accuracy'?",)
    assert found[1].message == "mae takes no arguments"
    assert found[2].message == "top_k_accuracy needs the argument 'k'"
    assert "k must be > 0, found 0" in found[3].message


@pytest.mark.parametrize(
    ("extra", "loss", "message"),
    [
        ("metrics mae", "softmax_cross_entropy", "mae measures the outputs of a regression loss"),
        ("metrics top_k_accuracy(3)", "mse", "top_k_accuracy(3) needs softmax_cross_entropy"),
        ("metrics top_k_accuracy(11)", "softmax_cross_entropy",
         "top_k_accuracy(11) needs at least 11 classes, but the model has 10 outputs"),
    ],
)  # fmt: skip
def test_metrics_the_loss_cannot_measure(extra: str, loss: str, message: str) -> None:
    data = "digits(flatten = true, one_hot = true)" if loss == "mse" else DIGITS
    errors = [d for d in diagnostics(extra, loss=loss, data=data) if d.code == "E031"]
    assert len(errors) == 1 and _at(errors[0]) == (EXTRA, 5)
    assert message in errors[0].message


def test_metrics_without_an_evaluated_split_draw_a_warning() -> None:
    (warning,) = diagnostics("metrics top_k_accuracy(2)", data="digits(flatten = true, test = 0)")
    assert warning.code == "W006" and _at(warning) == (EXTRA, 5)
    assert "validation and test splits" in warning.message
    assert diagnostics("metrics top_k_accuracy(2)",
                       data="digits(flatten = true, test = 0, validation = 0.1)") == []  # fmt: skip


# -- target input -----------------------------------------------------------------------

AUTOENCODER = "flatten -> dense(16) -> relu -> dense(64) -> reshape(1, 8, 8)"


@pytest.mark.parametrize(
    ("input", "body", "data"),
    [
        ("[1, 8, 8]", AUTOENCODER, "digits"),
        ("[1, 8, 8]", "flatten -> dense(16) -> relu -> dense(64)", "digits"),  # flattened
        ("[64]", "dense(16) -> relu -> dense(64)", "digits(flatten = true)"),
    ],
)
def test_autoencoders_are_clean(input: str, body: str, data: str) -> None:
    assert diagnostics("target input", data=data, loss="mse", input=input, body=body) == []


def test_an_output_unlike_the_input_is_reported_at_target() -> None:
    (d,) = diagnostics(
        "target input", data="digits", loss="mse", input="[1, 8, 8]", body="flatten -> dense(10)"
    )
    assert d.code == "E031" and _at(d) == (EXTRA, 5)
    assert d.message == (
        "target input makes each sample its own target, [1, 8, 8], but the model's output is [10]"
    )
    assert [(label.span.line, label.message) for label in d.labels] == [
        (2, "the output is [10]"),
        (1, "the input is [1, 8, 8]"),
    ]
    assert d.help == (
        "end the model with an output of the input's shape, e.g. dense(64) -> reshape([1, 8, 8])",
    )


def test_target_input_needs_a_regression_loss_and_no_one_hot() -> None:
    found = diagnostics(
        "target input",
        data="digits(one_hot = true)",
        input="[1, 8, 8]",
        body=AUTOENCODER,
    )
    assert [(d.code, _at(d)) for d in found] == [("E031", (DATA, 5)), ("E031", (EXTRA, 5))]
    assert "one_hot = true needs class labels" in found[0].message
    assert "needs a regression loss, but the loss is softmax_cross_entropy" in found[1].message


def test_an_unknown_target_gets_did_you_mean() -> None:
    found = diagnostics("target inptu", data="digits", loss="mse", input="[1, 8, 8]",
                        body=AUTOENCODER)  # fmt: skip
    (d,) = [d for d in found if d.code != "E031"]
    assert d.code == "E006" and _at(d) == (EXTRA, 12)
    assert d.message == "expected data or input, found the name 'inptu'"
    assert d.help == ("did you mean 'input'?",)
