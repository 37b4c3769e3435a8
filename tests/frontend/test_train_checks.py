"""`netspec check` refuses, at the train-section item at fault, what `netspec train` would
refuse at once (E031), and warns about settings that cannot act as written (W006)."""

from __future__ import annotations

import pytest

from netspec import analyze
from netspec.check.train import holdout_count
from netspec.diagnostics import Diagnostic
from netspec.errors import NetspecError

FILE = "t.net"

MODEL = "model m(x: {input}) {{\n    {body}\n}}\n"
TRAIN = "train m {{\n    data {data}\n    loss {loss}\n    optimizer {optimizer}\n{extra}}}\n"
# Line numbers of the train items in the text `spec` builds.
DATA, LOSS, OPTIMIZER, EXTRA = 5, 6, 7, 8


def spec(
    *,
    input: str = "[64]",
    body: str = "dense(10)",
    data: str = "digits(flatten = true)",
    loss: str = "softmax_cross_entropy",
    optimizer: str = "sgd(lr = 0.1)",
    extra: tuple[str, ...] = (),
) -> str:
    lines = "".join(f"    {line}\n" for line in extra)
    return MODEL.format(input=input, body=body) + TRAIN.format(
        data=data, loss=loss, optimizer=optimizer, extra=lines
    )


def found(text: str, code: str) -> list[Diagnostic]:
    return [d for d in analyze(text, FILE).diagnostics if d.code == code]


def one(text: str, code: str = "E031") -> Diagnostic:
    diagnostics = analyze(text, FILE).diagnostics
    matching = [d for d in diagnostics if d.code == code]
    assert len(matching) == 1, [(d.code, d.message) for d in diagnostics]
    return matching[0]


def at(d: Diagnostic) -> tuple[int, int]:
    assert d.span is not None
    return d.span.line, d.span.column


def label_lines(d: Diagnostic) -> list[int]:
    return [label.span.line for label in d.labels]


def test_the_shipped_form_is_clean() -> None:
    assert analyze(spec(), FILE).diagnostics == []


# -- early stopping -------------------------------------------------------------------


def test_early_stopping_on_val_loss_without_a_validation_split() -> None:
    d = one(spec(extra=("early_stopping monitor = val_loss",)))
    assert at(d) == (EXTRA, 5)
    assert "no validation split" in d.message
    assert label_lines(d) == [DATA]
    assert "validation = 0.1" in d.help[0]
    assert found(spec(data="digits(flatten = true, validation = 0.1)",
                      extra=("early_stopping monitor = val_loss",)), "E031") == []  # fmt: skip


def test_early_stopping_on_test_loss_without_a_test_split() -> None:
    d = one(
        spec(data="digits(flatten = true, test = 0)", extra=("early_stopping monitor = test_loss",))
    )
    assert at(d) == (EXTRA, 5) and "no test split" in d.message
    # MNIST has a fixed test set: nothing to report.
    mnist = spec(input="[784]", data="mnist", extra=("early_stopping monitor = test_loss",))
    assert found(mnist, "E031") == []


def test_early_stopping_on_accuracy_with_a_regression_loss() -> None:
    text = spec(
        input="[2]",
        body="dense(1)",
        data="linear(validation = 0.2)",
        loss="mse",
        extra=("early_stopping monitor = val_accuracy",),
    )
    d = one(text)
    assert at(d) == (EXTRA, 5) and "regression loss" in d.message
    assert label_lines(d) == [LOSS]
    assert d.help == ("monitor val_loss instead",)


# -- the loss against the data and the model's output ---------------------------------


@pytest.mark.parametrize(
    ("changes", "line", "words"),
    [
        ({"body": "dense(4)"}, DATA, "10 classes, but the model has 4 outputs"),
        ({"loss": "softmax_cross_entropy(class_weights = [1, 2])"}, LOSS, "2 class weights"),
        ({"loss": "binary_cross_entropy"}, LOSS, "binary_cross_entropy needs labels 0 or 1"),
        ({"loss": "mse"}, LOSS, "one target per output"),
        ({"input": "[1, 8, 8]", "body": "conv2d(10, 8)", "data": "digits"}, LOSS,
         "one value per class"),
        ({"data": "linear(features = 64)"}, LOSS, "needs class labels"),
        ({"data": "linear(features = 64, one_hot = true)", "loss": "mse", "body": "dense(1)"},
         DATA, "one_hot"),
        ({"data": "linear(features = 64)", "loss": "mse"}, DATA, "targets of shape [1]"),
        ({"input": "[2]", "data": "xor", "loss": "binary_cross_entropy", "body": "dense(2)"},
         LOSS, "needs 1 output"),
    ],
)  # fmt: skip
def test_loss_that_does_not_fit_the_data_or_the_output(
    changes: dict[str, str], line: int, words: str
) -> None:
    d = one(spec(**changes))
    assert at(d) == (line, 5)
    assert words in d.message


def test_the_output_node_is_labelled() -> None:
    d = one(spec(body="dense(4)"))
    assert label_lines(d) == [2]
    assert d.labels[0].message == "the output is [4]"
    assert d.help == ("end the model with dense(10)",)


def test_one_hot_targets_with_a_regression_loss_are_accepted() -> None:
    assert analyze(spec(data="digits(flatten = true, one_hot = true)", loss="mse"), FILE).ok


def test_a_limit_may_leave_classes_out_so_class_counts_are_not_checked() -> None:
    assert analyze(spec(body="dense(4)", data="digits(flatten = true, limit = 50)"), FILE).ok


# -- the data's samples against the model's input --------------------------------------


@pytest.mark.parametrize(
    ("input", "data", "help"),
    [
        ("[1, 28, 28]", "mnist(flatten = true)", "remove flatten = true"),
        ("[32]", "digits", "x: [1, 8, 8] or x: [64]"),
        ("[3]", "spirals", "x: [2]"),
        ("[3]", "xor", "x: [2]"),
    ],
)
def test_inputs_that_do_not_fit_the_model(input: str, data: str, help: str) -> None:
    body = "flatten -> dense(2)" if data == "xor" else "flatten -> dense(10)"
    d = one(spec(input=input, body=body, data=data))
    assert at(d) == (DATA, 5) and "samples of shape" in d.message
    assert label_lines(d) == [1] and help in d.help[0]


def test_a_vector_model_takes_flattened_images_without_being_asked() -> None:
    assert analyze(spec(input="[784]", data="mnist"), FILE).ok


# -- split sizes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("xor(samples = 400, test = 0.001)", "holds out no sample"),
        ("digits(flatten = true, validation = 0.0001)", "holds out no sample"),
        ("digits(flatten = true, limit = 10, validation = 0.99)", "holds out all"),
        ("digits(flatten = true, limit = 1, validation = 0.5)", "too few samples to split"),
    ],
)
def test_splits_that_would_be_empty(data: str, words: str) -> None:
    text = spec(data=data, input="[64]" if "digits" in data else "[2]",
                body="dense(10)" if "digits" in data else "dense(2)")  # fmt: skip
    d = one(text)
    assert at(d) == (DATA, 5) and words in d.message


def test_the_hold_out_count_is_the_data_loaders() -> None:
    split = pytest.importorskip("netspec.data._split", reason="the data package needs numpy")
    for n in (1, 3, 7, 120, 1797):
        for fraction in (0.0001, 0.001, 0.1, 0.25, 1 / 3, 0.5, 0.8333, 0.99):
            count = holdout_count(fraction, n)
            if 0 < count < n:
                assert split.holdout_count(fraction, n, source="s", option="test") == count
            else:
                with pytest.raises(NetspecError):
                    split.holdout_count(fraction, n, source="s", option="test")


# -- warnings: settings that cannot act as written --------------------------------------


@pytest.mark.parametrize(
    ("extra", "optimizer", "words"),
    [
        (("epochs 5", "schedule warmup(5)"), "sgd(lr = 0.1)", "never reaches lr"),
        (("epochs 5", "schedule step(5)"), "sgd(lr = 0.1)", "never decays"),
        (("schedule exponential(1.5)",), "sgd(lr = 0.1)", "raises the learning rate"),
        (("schedule cosine(t_max = 10, eta_min = 0.5)",), "sgd(lr = 0.1)", "not lower"),
        (("epochs 20", "schedule cosine(t_max = 5)"), "sgd(lr = 0.1)", "rises again"),
        (("epochs 5", "early_stopping monitor = train_loss, patience = 5"), "sgd(lr = 0.1)",
         "can never stop"),
        ((), "sgd(lr = 0.1, dampening = 0.5)", "no effect without momentum"),
    ],
)  # fmt: skip
def test_settings_that_cannot_act_as_written_warn(
    extra: tuple[str, ...], optimizer: str, words: str
) -> None:
    d = one(spec(optimizer=optimizer, extra=extra), "W006")
    assert d.severity == "warning" and words in d.message
    assert analyze(spec(optimizer=optimizer, extra=extra), FILE).ok


def test_accuracy_metric_with_a_regression_loss_warns() -> None:
    text = spec(
        input="[2]", body="dense(1)", data="linear", loss="mse", extra=("metrics loss, accuracy",)
    )
    d = one(text, "W006")
    assert at(d) == (EXTRA, 5) and "not measured" in d.message


def test_cosine_over_the_whole_run_does_not_warn() -> None:
    text = spec(extra=("epochs 15", "schedule cosine(t_max = 15, warmup = 1)"))
    assert analyze(text, FILE).diagnostics == []


def test_nesterov_with_dampening_is_refused_as_pytorch_does() -> None:
    d = one(spec(optimizer="nesterov(0.1, dampening = 0.1)"), "E004")
    assert at(d) == (OPTIMIZER, 15) and "dampening = 0" in d.message


def test_every_problem_is_reported_in_one_pass() -> None:
    text = spec(
        body="dense(4)",
        loss="softmax_cross_entropy(class_weights = [1])",
        extra=("early_stopping monitor = val_loss",),
    )
    assert [at(d)[0] for d in found(text, "E031")] == [DATA, LOSS, EXTRA]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_precision_is_a_typed_train_setting(precision: str) -> None:
    analysis = analyze(spec(extra=(f"precision {precision}",)), FILE)
    assert analysis.program is not None
    assert analysis.program.trains[0].precision == precision


def test_precision_defaults_to_fp32() -> None:
    analysis = analyze(spec(), FILE)
    assert analysis.program is not None
    assert analysis.program.trains[0].precision == "fp32"


def test_an_unknown_precision_names_the_choices_at_its_value() -> None:
    diagnostics = analyze(spec(extra=("precision bf61",)), FILE).diagnostics
    assert len(diagnostics) == 1, [(d.code, d.message) for d in diagnostics]
    problem = diagnostics[0]
    assert problem.message == "expected fp32 or bf16 or fp16, found the name 'bf61'"
    assert at(problem) == (EXTRA, len("    precision ") + 1)
    assert "did you mean 'bf16'?" in " ".join(problem.help)
