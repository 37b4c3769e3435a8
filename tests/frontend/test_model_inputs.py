"""Models of several inputs in the front end: the header, the IR, diagnostics, summary and
the train section's checks against the data source."""

from __future__ import annotations

import pytest

import netspec
from netspec.errors import NetspecError
from netspec.ir import CheckedModel
from netspec.summary import summary_table
from tests.conftest import TWO_INPUTS
from tests.frontend.test_diagnostics import at, diagnose, helps, only

TWO = """model m(image: [1, 4, 4], extra: float64[3]) {
    a = image -> flatten
    b = extra -> dense(2)
    concat(a, b) -> dense(1)
}
"""


def test_the_model_holds_its_inputs_in_order_with_their_dtypes() -> None:
    model = netspec.load(TWO).model()
    assert [(i.name, i.shape, i.dtype) for i in model.inputs] == [
        ("image", (1, 4, 4), "float32"),
        ("extra", (3,), "float64"),
    ]
    assert model.input_names == ("image", "extra")
    assert model.node("concat_1").inputs == ("a", "b")


def test_input_of_a_model_of_several_inputs_is_an_error_naming_them() -> None:
    model = netspec.load(TWO).model()
    with pytest.raises(NetspecError, match=r"model 'm' has 2 inputs \(image, extra\)"):
        _ = model.input


def test_ir_written_with_one_input_field_still_reads() -> None:
    model = netspec.load("model m(x: [3]) { dense(2) }").model()
    dumped = model.model_dump(mode="json")
    dumped["input"] = dumped.pop("inputs")[0]
    assert CheckedModel.model_validate(dumped) == model


def test_two_inputs_of_one_name_are_an_error_at_the_second() -> None:
    d = only("model m(x: [3], x: [4]) { x -> dense(1) }", "E003")
    assert at(d) == "1:17"
    assert "two inputs named 'x'" in d.message
    assert [label.message for label in d.labels] == ["first named here"]


def test_an_input_never_used_is_an_error_at_its_name() -> None:
    d = only("model m(a: [3], unused: [4]) { a -> dense(1) }", "E022")
    assert at(d) == "1:17"
    assert d.message == "input 'unused' of model 'm' is never used"
    assert "unused -> ..." in helps(d)


def test_the_first_statement_of_a_model_of_several_inputs_names_its_input() -> None:
    found = diagnose("model m(a: [3], b: [3]) {\n    dense(1)\n    add(a, b)\n}")
    d = next(d for d in found if d.message == "this statement has no input")
    assert d.code == "E022" and at(d) == "2:5"
    assert "several inputs (a, b)" in helps(d) and "a -> ..." in helps(d)


def test_a_model_of_one_input_reads_it_implicitly_as_before() -> None:
    model = netspec.load("model m(x: [3]) { dense(2) }").model()
    assert model.node("dense_1").inputs == ("x",)


def test_summary_shows_every_input() -> None:
    table = summary_table(netspec.load(TWO_INPUTS).model())
    rows = [line.split() for line in table.splitlines()]
    assert ["image", "input", "[1,", "6,", "6]"] in rows
    assert ["extra", "input", "[5]"] in rows


# -- the train section against the data source ----------------------------------------

SECTION = (
    "train two_inputs {{\n    data {data}\n    loss softmax_cross_entropy\n{extra}"
    "    optimizer sgd(lr = 0.1)\n}}\n"
)


def _train(data: str, extra: str = "") -> str:
    return TWO_INPUTS + SECTION.format(data=data, extra=extra)


def test_a_source_of_one_array_cannot_feed_several_inputs() -> None:
    d = only(_train("xor"), "E031")
    assert "data xor makes one input array per sample" in d.message
    assert "has 2 inputs (image, extra)" in d.message
    assert 'npz("data.npz")' in helps(d) and "inputs = [" in helps(d)


def test_target_input_needs_a_model_of_one_input() -> None:
    found = diagnose(_train('npz("d.npz")', "    target input\n"))
    messages = [d.message for d in found if d.code == "E031"]
    assert any("needs a model of one input" in m for m in messages), messages


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('csv("d.csv", target = "y", standardize = false)', "csv without column groups"),
        (
            'csv("d.csv", target = "y", standardize = false, inputs = [image("p"), other("q")])',
            "csv column group 'other' is not an input of the model",
        ),
        (
            'csv("d.csv", target = "y", standardize = false, inputs = [image("p"), extra("p")])',
            "csv column 'p' is in the groups of both 'image' and 'extra'",
        ),
        (
            'csv("d.csv", target = "y", inputs = [image("p"), extra("q")])',
            "standardize = true is not supported",
        ),
        (
            'csv("d.csv", target = "y", standardize = false, inputs = [image("y"), extra("q")])',
            "csv column 'y' is the target",
        ),
    ],
)
def test_csv_column_groups_are_checked_against_the_inputs(data: str, expected: str) -> None:
    found = [d for d in diagnose(_train(data)) if d.code == "E031"]
    assert any(expected in d.message for d in found), [d.message for d in found]


def test_csv_column_groups_that_fit_the_inputs_check_clean() -> None:
    data = 'csv("d.csv", target = "y", standardize = false, inputs = [image("p"), extra("q")])'
    assert [d for d in diagnose(_train(data)) if d.is_error] == []


def test_a_column_group_that_is_not_a_call_is_a_type_error() -> None:
    data = 'csv("d.csv", target = "y", standardize = false, inputs = ["p", "q"])'
    found = [d for d in diagnose(_train(data)) if d.code == "E006"]
    assert found and "column group" in found[0].message


@pytest.mark.parametrize(
    ("losses", "code"),
    [("loss mse, l1", "E004"), ("loss mse\n    loss l1", "E003")],
    ids=["two values", "two lines"],
)
def test_a_second_loss_says_a_model_has_one_output_and_one_loss(losses: str, code: str) -> None:
    spec = (
        "model m(x: [2]) { dense(1) }\n"
        f"train m {{\n    data xor\n    {losses}\n    optimizer sgd(lr = 0.1)\n}}"
    )
    d = only(spec, code)
    assert "exactly one output and a train section one loss" in helps(d)
