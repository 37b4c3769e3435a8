"""rnn, lstm and gru in the front end: what a call means (shapes, parameters, FLOPs,
summary text), and a located diagnostic, with help, for each bad call."""

from __future__ import annotations

import pytest

import netspec
from netspec.ir import ops as ir
from netspec.ir.init import Orthogonal, Regularize, Uniform, Zeros
from netspec.summary import summary_table
from tests.frontend.test_diagnostics import at, helps, only

SEQ = "model m(x: [7, 5]) {{\n    {layer}\n}}\n"


def model(text: str) -> netspec.CheckedModel:
    return netspec.load(text).model()


# -- what a correct call means ----------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        ("lstm(16)", (16,)),
        ("lstm(16, return_sequences = true)", (7, 16)),
        ("gru(8, bidirectional = true)", (16,)),
        ("rnn(4, relu, bidirectional = true, return_sequences = true)", (7, 8)),
    ],
)
def test_the_output_is_the_final_state_or_every_step(layer: str, shape: tuple[int, ...]) -> None:
    (node,) = model(SEQ.format(layer=layer)).nodes
    assert node.output.shape == shape


def test_the_checked_op_keeps_the_settings_and_leaves_initialisation_to_the_params() -> None:
    m = model(SEQ.format(layer="rnn(4, relu, layers = 2, dropout = 0.25, bias = false)"))
    (node,) = m.nodes
    assert node.op == ir.CheckedRnn(
        hidden=4, nonlinearity="relu", layers=2, dropout=0.25, bias=False
    )
    assert [(p.attr, p.shape) for p in m.params] == [
        ("weight_ih_l0", (4, 5)),
        ("weight_hh_l0", (4, 4)),
        ("weight_ih_l1", (4, 4)),
        ("weight_hh_l1", (4, 4)),
    ]


def test_schemes_and_penalties_go_to_every_weight_and_bias() -> None:
    m = model(
        SEQ.format(layer="gru(3, init = orthogonal, bias_init = zeros, regularize = l2(0.1))")
    )
    weights = [p for p in m.params if p.role == "weight"]
    biases = [p for p in m.params if p.role == "bias"]
    assert [p.attr for p in weights] == ["weight_ih_l0", "weight_hh_l0"]
    assert all(p.init == Orthogonal() and p.regularize == Regularize(l2=0.1) for p in weights)
    assert all(p.init == Zeros() and p.regularize.is_off for p in biases)


def test_the_defaults_block_does_not_change_a_recurrent_layers_initialisation() -> None:
    m = model("defaults { init = xavier_uniform }\n" + SEQ.format(layer="lstm(4)"))
    assert {p.init for p in m.params} == {Uniform(low=-0.5, high=0.5)}


def test_flops_count_both_products_the_biases_and_the_cell() -> None:
    (node,) = model(SEQ.format(layer="lstm(4, layers = 2)")).nodes
    rows = 4 * 4
    first = 2 * rows * (5 + 4) + rows + 2 * rows + 9 * 4
    second = 2 * rows * (4 + 4) + rows + 2 * rows + 9 * 4
    assert node.flops == 7 * (first + second)


def test_the_summary_writes_the_layer_as_a_spec_would() -> None:
    text = SEQ.format(
        layer="lstm(4, layers = 2, return_sequences = true) -> gru(3, init = orthogonal)"
        " -> reshape(1, 3) -> rnn(2, relu)"
    )
    table = summary_table(netspec.load(text).model())
    assert "lstm(4, layers = 2, return_sequences = true)" in table
    assert "gru(3, init = orthogonal)" in table
    assert "rnn(2, nonlinearity = relu)" in table


# -- diagnostics ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "found", "hint"),
    [
        ("[784]", "[784]", "reshape(784, 1) -> lstm(...)"),
        ("[1, 28, 28]", "[1, 28, 28]", "reshape(28, 28) -> lstm(...)"),
        ("[3, 8, 8]", "[3, 8, 8]", "permute(1, 0, 2) -> reshape(8, 24) -> lstm(...)"),
    ],
)
def test_a_recurrent_layer_needs_a_sequence(shape: str, found: str, hint: str) -> None:
    d = only(f"model m(x: {shape}) {{\n    lstm(8) -> dense(2)\n}}\n", "E010")
    assert at(d) == "2:5"
    assert (
        d.message
        == f"lstm needs a sequence [T, F] per sample (T steps of F features), found {found}"
    )
    assert hint in helps(d)


@pytest.mark.parametrize(
    ("layer", "column", "message"),
    [
        ("lstm(0)", 10, "expected a positive integer, found 0"),
        ("gru(8, layers = 0)", 21, "expected a positive integer, found 0"),
        ("rnn(8, layers = 2, dropout = 1.5)", 24, "rnn dropout must be between 0 and 1, found 1.5"),
        (
            "lstm(8, layers = 2, dropout = -0.1)",
            25,
            "lstm dropout must be between 0 and 1, found -0.1",
        ),
    ],
)
def test_bad_sizes_and_rates_are_reported_at_the_argument(
    layer: str, column: int, message: str
) -> None:
    d = only(SEQ.format(layer=layer), "E004")
    assert at(d) == f"2:{column}"
    assert d.message == message


def test_dropout_with_one_layer_has_nothing_to_act_on() -> None:
    d = only(SEQ.format(layer="lstm(8, dropout = 0.2)"), "E004")
    assert at(d) == "2:13"
    assert "lstm dropout = 0.2 has no effect with one layer" in d.message
    assert "lstm(..., layers = 2, dropout = 0.2)" in helps(d)
    assert "dropout(0.2) after it" in helps(d)


@pytest.mark.parametrize(
    ("layer", "code", "column", "message", "hint"),
    [
        ("gru(2.5)", "E006", 9, "expected a positive integer, found 2.5", ""),
        (
            "lstm(8, bidirectional = yes)",
            "E006",
            29,
            "expected true or false, found the name 'yes'",
            "",
        ),
        (
            "gru(8, return_sequences = 1)",
            "E006",
            31,
            "expected true or false, found the integer 1",
            "",
        ),
        ("rnn(8, sigmoid)", "E006", 12, "expected tanh or relu, found the name 'sigmoid'", ""),
        (
            "rnn(8, nonlinearity = rleu)",
            "E006",
            27,
            "expected tanh or relu, found the name 'rleu'",
            "did you mean 'relu'?",
        ),
        (
            "lstm(8, relu)",
            "E004",
            13,
            "lstm takes at most 1 positional argument, found 2",
            "chain the activation after it",
        ),
    ],
)
def test_argument_types_are_checked_as_on_other_layers(
    layer: str, code: str, column: int, message: str, hint: str
) -> None:
    d = only(SEQ.format(layer=layer), code)
    assert at(d) == f"2:{column}"
    assert d.message == message
    assert hint in helps(d)


@pytest.mark.parametrize(
    ("argument", "hint"),
    [
        ("hidden_size = 8", "netspec calls it 'hidden'"),
        ("units = 8", "netspec calls it 'hidden'"),
        ("num_layers = 2", "netspec calls it 'layers'"),
        ("batch_first = true", "always batch first"),
        ("input_size = 5", "netspec infers input sizes"),
        ("nonlinearity = relu", "lstm's gates are fixed"),
    ],
)
def test_pytorch_and_keras_argument_names_get_netspec_s_word(argument: str, hint: str) -> None:
    d = only(SEQ.format(layer=f"lstm(8, {argument})"), "E004")
    assert d.message == f"lstm has no argument '{argument.split(' ')[0]}'"
    assert hint in helps(d)


def test_hand_set_values_do_not_fit_a_layer_of_several_weights() -> None:
    d = only(SEQ.format(layer="gru(2, init = [[1, 2], [3, 4]])"), "E004")
    assert at(d) == "2:12"
    assert "gru init takes a scheme, not hand-set values" in d.message


def test_a_bias_initialiser_needs_a_bias() -> None:
    d = only(SEQ.format(layer="rnn(2, bias = false, bias_init = zeros)"), "E004")
    assert d.message == "bias_init is given but bias = false"
