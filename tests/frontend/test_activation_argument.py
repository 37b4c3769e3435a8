"""``activation = ...`` on dense, conv2d, conv1d and conv2d_transpose: the activation's own
node after the layer, named after the layer, and diagnostics for a value that is not an
activation."""

from __future__ import annotations

import pytest

import netspec
from netspec import analyze
from netspec.diagnostics import Diagnostic
from netspec.ir import ops as ir
from netspec.ops import ACTIVATION_KINDS, LAYER_NAMES
from netspec.summary import summary_table


def nodes(text: str) -> list[tuple[str, object, tuple[str, ...]]]:
    model = netspec.load(text).model()
    return [(node.name, node.op, node.inputs) for node in model.nodes]


def diagnose(text: str) -> Diagnostic:
    (found,) = analyze(text, "t.net").diagnostics
    return found


def where(diagnostic: Diagnostic) -> str:
    assert diagnostic.span is not None
    return f"{diagnostic.span.line}:{diagnostic.span.column}"


def test_a_transposed_conv_takes_an_activation_with_its_arguments() -> None:
    text = "model m(x: [2, 3, 3]) { up = x -> conv2d_transpose(4, 2, 2, activation = elu(0.5)) }"
    assert nodes(text) == [
        ("up", ir.CheckedConv2dTranspose(filters=4, kernel=(2, 2), stride=(2, 2)), ("x",)),
        ("up_elu", ir.Elu(alpha=0.5), ("up",)),
    ]


def test_the_activation_is_a_node_of_its_own_named_after_the_layer() -> None:
    text = "model m(x: [1, 8, 8]) { conv2d(4, 3, activation = relu) -> flatten -> dense(3) }"
    assert nodes(text) == [
        ("conv2d_1", ir.CheckedConv2d(filters=4, kernel=(3, 3)), ("x",)),
        ("conv2d_1_relu", ir.Relu(), ("conv2d_1",)),
        ("flatten_1", ir.Flatten(), ("conv2d_1_relu",)),
        ("dense_1", ir.CheckedDense(units=3), ("flatten_1",)),
    ]


def test_it_is_the_chained_form_but_for_the_activation_name() -> None:
    sugar = nodes("model m(x: [4]) { dense(8, activation = leaky_relu(0.2)) -> dense(2) }")
    chained = nodes("model m(x: [4]) { dense(8) -> leaky_relu(0.2) -> dense(2) }")
    renamed = {"leaky_relu_1": "dense_1_leaky_relu"}
    assert sugar == [
        (renamed.get(name, name), op, tuple(renamed.get(i, i) for i in inputs))
        for name, op, inputs in chained
    ]


def test_a_named_stage_names_the_layer_and_its_tensor_is_the_activation() -> None:
    text = """model m(x: [4]) {
        h = x -> dense(8, activation = prelu(per_channel = true))
        add(h, h) -> dense(2, activation = softmax)
    }"""
    model = netspec.load(text).model()
    assert [(n.name, n.op.kind, n.inputs) for n in model.nodes] == [
        ("h", "dense", ("x",)),
        ("h_prelu", "prelu", ("h",)),
        ("add_1", "add", ("h_prelu", "h_prelu")),
        ("dense_1", "dense", ("add_1",)),
        ("dense_1_softmax", "softmax", ("dense_1",)),
    ]
    # The activation's parameters are its own node's: h_prelu.weight, one per feature.
    assert [p.name for p in model.params if p.name.startswith("h_")] == ["h_prelu.weight"]


def test_the_name_does_not_depend_on_other_activations_of_the_model() -> None:
    text = "model m(x: [4]) { relu -> dense(8, activation = relu) -> relu }"
    assert [name for name, _, _ in nodes(text)] == ["relu_1", "dense_1", "dense_1_relu", "relu_2"]


def test_inside_a_block_the_name_takes_the_block_prefix() -> None:
    text = "block b { input x\n dense(4, activation = tanh) }\nmodel m(x: [4]) { b -> b }"
    names = [name for name, _, _ in nodes(text)]
    assert names == ["b_1.dense_1", "b_1.dense_1_tanh", "b_2.dense_1", "b_2.dense_1_tanh"]


def test_summary_shows_the_activation_row() -> None:
    program = netspec.load("model m(x: [4]) { dense(8, activation = selu) -> dense(2) }")
    text = summary_table(program.model())
    assert "dense_1_selu" in text and "selu" in text


@pytest.mark.parametrize("kind", sorted(ACTIVATION_KINDS))
def test_every_activation_is_accepted(kind: str) -> None:
    (_, act, _) = nodes(f"model m(x: [2, 4, 4]) {{ conv2d(3, 1, activation = {kind}) }}")[1]
    assert act.kind == kind  # type: ignore[attr-defined]


def test_an_unknown_activation_gets_did_you_mean_and_the_list() -> None:
    d = diagnose("model m(x: [4]) { dense(3, activation = rleu) }")
    assert (d.code, where(d), d.message) == ("E002", "1:41", "unknown activation 'rleu'")
    assert "did you mean 'relu'" in d.help[0]
    assert d.help[-1].startswith("activations: identity, step, sigmoid")
    assert "hard_swish" in d.help[-1] and "dropout" not in d.help[-1]


@pytest.mark.parametrize("layer", sorted(set(LAYER_NAMES) - ACTIVATION_KINDS))
def test_a_layer_that_is_no_activation_is_refused(layer: str) -> None:
    d = diagnose(f"model m(x: [4]) {{ dense(3, activation = {layer}) }}")
    assert (d.code, where(d)) == ("E004", "1:41")
    assert f"'{layer}' is a layer, not an activation" in d.message
    assert any(h.startswith("activations: ") for h in d.help)
    assert f"-> {layer}" in d.help[-1]


@pytest.mark.parametrize(
    ("value", "code", "column", "message", "help"),
    [
        ('"relu"', "E006", 41, 'found the string "relu"', "write it without quotes: relu"),
        ("3", "E006", 41, "found the integer 3", "activations: identity"),
        ("leaky_relu(slope = 0.2)", "E004", 52, "no argument 'slope'", "negative_slope"),
        ("elu(-1)", "E004", 45, "expected a number > 0, found -1", ""),
    ],
)
def test_a_bad_activation_value_is_reported_where_it_is_written(
    value: str, code: str, column: int, message: str, help: str
) -> None:
    d = diagnose(f"model m(x: [4]) {{ dense(3, activation = {value}) }}")
    assert (d.code, where(d)) == (code, f"1:{column}")
    assert message in d.message and help in " | ".join(d.help)


def test_activation_given_twice_is_an_error() -> None:
    d = diagnose("model m(x: [4]) { dense(3, activation = relu, activation = tanh) }")
    assert (d.code, where(d)) == ("E003", "1:60")


def test_a_layer_error_and_an_activation_error_are_both_reported() -> None:
    found = analyze("model m(x: [4]) { dense(0, activation = rleu) }", "t.net").diagnostics
    assert [(f.code, where(f)) for f in found] == [("E004", "1:25"), ("E002", "1:41")]


def test_a_shape_error_of_the_activation_points_at_the_argument() -> None:
    d = diagnose("model m(x: [2, 4, 4]) { conv2d(3, 1, activation = softmax(axis = 3)) }")
    assert where(d) == "1:51"
