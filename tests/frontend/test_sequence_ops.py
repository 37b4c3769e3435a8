"""conv1d, maxpool1d, avgpool1d and global_avgpool on [channels, length] samples in the
front end: their arguments, shapes, parameters, FLOPs and summary text, and a located
diagnostic for each bad call."""

from __future__ import annotations

import pytest

import netspec
from netspec.diagnostics import Diagnostic
from netspec.ir import ops as ir
from netspec.ir.init import XavierUniform
from netspec.summary import summary_table
from tests.frontend.test_diagnostics import at, helps, only


def model(text: str) -> netspec.CheckedModel:
    return netspec.load(text).model()


# -- what a correct call means ----------------------------------------------------------


def test_conv1d_has_torch_conv1d_parameters_shapes_and_flops() -> None:
    m = model("model m(x: [6, 20]) { conv1d(8, 5, stride = 2, padding = 1, groups = 2) }")
    (node,) = m.nodes
    assert node.op == ir.CheckedConv1d(filters=8, kernel=5, stride=2, padding=(1, 1), groups=2)
    assert node.output.shape == (8, 9)  # (20 + 2 - 5) // 2 + 1
    assert [(p.name, p.shape) for p in m.params] == [
        ("conv1d_1.weight", (8, 3, 5)),
        ("conv1d_1.bias", (8,)),
    ]
    # A multiply-add per weight of a filter's group, plus the bias, per output value.
    assert node.flops == (2 * 3 * 5 + 1) * 8 * 9


def test_pools_keep_the_channels_and_default_their_stride_to_the_kernel() -> None:
    m = model("model m(x: [3, 10]) { maxpool1d(2) -> avgpool1d(3, stride = 1, padding = 1) }")
    maxpool, avgpool = m.nodes
    assert maxpool.op == ir.CheckedMaxPool1d(kernel=2, stride=2)
    assert avgpool.op == ir.CheckedAvgPool1d(kernel=3, stride=1, padding=(1, 1))
    assert [n.output.shape for n in m.nodes] == [(3, 5), (3, 5)]
    assert [n.flops for n in m.nodes] == [3 * 5 * 2, 3 * 5 * 3]


def test_global_avgpool_averages_a_sequence_to_a_vector_as_it_does_an_image() -> None:
    seq = model("model m(x: [4, 7]) { global_avgpool -> dense(2) }")
    img = model("model m(x: [4, 3, 5]) { global_avgpool -> dense(2) }")
    assert seq.nodes[0].output.shape == img.nodes[0].output.shape == (4,)
    assert seq.nodes[0].flops == 4 * 7


def test_conv1d_takes_the_activation_argument() -> None:
    m = model("model m(x: [2, 8]) { h = x -> conv1d(4, 3, activation = leaky_relu(0.2)) }")
    assert [(n.name, n.op.kind, n.inputs) for n in m.nodes] == [
        ("h", "conv1d", ("x",)),
        ("h_leaky_relu", "leaky_relu", ("h",)),
    ]


def test_conv1d_takes_init_regularize_and_hand_set_weights() -> None:
    m = model(
        "model m(x: [1, 4]) { conv1d(2, 2, init = xavier_uniform, bias_init = 0.5,"
        " regularize = l2(0.1)) -> conv1d(1, 2, weight = [[[1, -1], [2, 0]]], bias = [3]) }"
    )
    weight, bias, hand, hand_bias = m.params
    assert weight.init == XavierUniform()
    assert bias.init.value == 0.5 and weight.regularize.l2 == 0.1  # type: ignore[union-attr]
    assert hand.shape == (1, 2, 2) and hand.init.values == (1.0, -1.0, 2.0, 0.0)  # type: ignore[union-attr]
    assert hand_bias.init.values == (3.0,)  # type: ignore[union-attr]


def test_summary_writes_the_calls_back_with_explicit_pads() -> None:
    text = summary_table(
        model("model m(x: [2, 9]) { conv1d(4, 4, padding = same) -> maxpool1d(2, stride = 1) }")
    )
    assert "conv1d(4, 4, padding = [1, 2])" in text
    assert "maxpool1d(2, stride = 1)" in text


# -- diagnostics ------------------------------------------------------------------------


def test_a_kernel_longer_than_the_padded_input_shows_the_computed_length() -> None:
    d = only("model m(x: [2, 5]) {\n    conv1d(4, 7, padding = [1, 0])\n}\n", "E011")
    assert at(d) == "2:5"
    assert "conv1d output length would be 0" in d.message
    assert "input length 5 (padded to 6)" in d.message and "kernel 7" in d.message
    assert d.notes == ("output = (in + pad - kernel) // stride + 1 = (5 + 1 - 7) // 1 + 1 = 0",)
    assert "padding = same" in helps(d)


def test_a_dilated_kernel_longer_than_the_input() -> None:
    d = only("model m(x: [2, 8]) {\n    conv1d(4, 3, dilation = 5)\n}\n", "E011")
    assert "would be -2" in d.message and "dilated kernel 11" in d.message


def test_a_pool_after_too_much_pooling() -> None:
    d = only("model m(x: [1, 4]) {\n    maxpool1d(2) -> avgpool1d(2) -> maxpool1d(2)\n}\n", "E011")
    assert at(d) == "2:37"
    assert d.label == "input is [1, 1]"
    assert "maxpool1d output length would be 0" in d.message


@pytest.mark.parametrize(
    ("layer", "shape", "message", "hint"),
    [
        (
            "conv1d(4, 3)",
            "[3, 8, 8]",
            "conv1d needs a [channels, length] input, found [3, 8, 8]",
            "use conv2d(...)",
        ),
        (
            "conv1d(4, 3)",
            "[100]",
            "conv1d needs a [channels, length] input, found [100]",
            "reshape(1, 100) -> conv1d(...)",
        ),
        (
            "maxpool1d(2)",
            "[3, 8, 8]",
            "maxpool1d needs a [channels, length] input",
            "use maxpool(...)",
        ),
        (
            "avgpool1d(2)",
            "[3, 8, 8]",
            "avgpool1d needs a [channels, length] input",
            "use avgpool(...)",
        ),
        (
            "conv2d(4, 3)",
            "[3, 20]",
            "conv2d needs a [channels, height, width] input, found [3, 20]",
            "use conv1d(...)",
        ),
        (
            "maxpool(2)",
            "[3, 20]",
            "maxpool needs a [channels, height, width] input",
            "use maxpool1d(...)",
        ),
        (
            "global_avgpool",
            "[12]",
            "global_avgpool needs a [channels, length] or [channels, height, width] input",
            "averages each channel",
        ),
    ],
)
def test_a_layer_on_a_sample_of_the_wrong_rank_names_the_layer_that_fits(
    layer: str, shape: str, message: str, hint: str
) -> None:
    d = only(f"model m(x: {shape}) {{\n    {layer}\n}}\n", "E010")
    assert at(d) == "2:5"
    assert message in d.message and hint in helps(d)


def _bad(call: str, code: str) -> Diagnostic:
    return only(f"model m(x: [4, 16]) {{\n    {call}\n}}\n", code)


@pytest.mark.parametrize(
    ("call", "code", "column", "message", "hint"),
    [
        (
            "conv1d(4, 3, padding = [[1, 1], [1, 1]])",
            "E006",
            28,
            "expected padding [left, right], found a nested list",
            "one axis to pad",
        ),
        (
            "conv1d(4, 3, padding = [1, 2, 3])",
            "E006",
            28,
            "found a list of 3",
            "padding = 1 or [1, 2]",
        ),
        (
            'conv1d(4, 3, padding = "same")',
            "E006",
            28,
            'found the string "same"',
            "write it without quotes: same",
        ),
        (
            "conv1d(4, 3, padding = sme)",
            "E006",
            28,
            "expected same or valid",
            "did you mean 'same'",
        ),
        ("conv1d(4, [3, 3])", "E006", 15, "expected a positive integer", ""),
        ("conv1d(4, 3, stride = 0)", "E004", 27, "expected a positive integer, found 0", ""),
        (
            "conv1d(4, 3, kernal = 3)",
            "E004",
            18,
            "conv1d has no argument 'kernal'",
            "did you mean 'kernel'",
        ),
        (
            "conv1d(4, kernel_size = 3)",
            "E004",
            15,
            "conv1d has no argument 'kernel_size'",
            "netspec calls it 'kernel'",
        ),
        (
            "conv1d(kernel = 3)",
            "E005",
            5,
            "conv1d needs the argument 'filters'",
            "conv1d(16, 3, padding = same)",
        ),
        (
            "conv1d(4, 3, bias = false, bias_init = 1)",
            "E004",
            32,
            "bias_init is given but bias = false",
            "",
        ),
        (
            "conv1d(4, 3, relu)",
            "E006",
            18,
            "expected a positive integer, found the name 'relu'",
            "activation = relu",
        ),
        (
            "maxpool1d(2, activation = relu)",
            "E004",
            18,
            "maxpool1d has no argument 'activation'",
            "maxpool1d(...) -> relu",
        ),
        (
            "avgpool1d(2, pool_size = 2)",
            "E004",
            18,
            "avgpool1d has no argument 'pool_size'",
            "netspec calls it 'kernel'",
        ),
        (
            "maxpool1d(2, padding = 2)",
            "E004",
            5,
            "maxpool1d padding 2 must be smaller than the kernel 2",
            "only of padding",
        ),
        (
            "conv1d(6, 3, groups = 4)",
            "E015",
            5,
            "groups = 4 must divide the input channels (4) and the filters (6)",
            "groups = 2",
        ),
        (
            "conv1d(2, 3, weight = [[[1, 2, 3]]])",
            "E013",
            5,
            "is [1, 1, 3], the layer needs [2, 4, 3]",
            "",
        ),
    ],
)
def test_a_bad_argument_is_reported_where_it_is_written(
    call: str, code: str, column: int, message: str, hint: str
) -> None:
    d = _bad(call, code)
    assert at(d) == f"2:{column}"
    assert message in d.message and hint in helps(d) + " ".join(d.notes) + d.message


def test_a_misspelt_conv1d_gets_did_you_mean() -> None:
    d = only("model m(x: [4, 16]) {\n    conv1(4, 3)\n}\n", "E002")
    assert "did you mean 'conv1d'" in helps(d)
