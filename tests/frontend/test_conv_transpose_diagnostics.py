"""conv2d_transpose's diagnostics: each bad argument is reported at its place, with the
numbers that make it wrong and how to fix it."""

from __future__ import annotations

import pytest

import netspec
from netspec.ir import ops as ir_ops
from netspec.ops import shapes
from netspec.ops.shapes import ShapeProblem
from tests.frontend.test_diagnostics import at, helps, only

IMG = "model m(x: [4, 5, 5]) {{\n    {layer}\n}}\n"


@pytest.mark.parametrize(
    ("layer", "column", "message"),
    [
        (
            "conv2d_transpose(4, 3, stride = 2, output_padding = 2)",
            40,
            "conv2d_transpose output_padding 2 must be smaller than the stride 2 or the dilation 1",
        ),
        (
            "conv2d_transpose(4, 3, output_padding = 1)",
            28,
            "conv2d_transpose output_padding 1 must be smaller than the stride 1 or the dilation 1",
        ),
        (
            "conv2d_transpose(4, 3, dilation = [1, 2], output_padding = [0, 2])",
            47,
            "conv2d_transpose output_padding (width) 2 must be smaller than the stride 1 or "
            "the dilation 2",
        ),
    ],
)
def test_output_padding_must_be_below_the_stride_or_the_dilation(
    layer: str, column: int, message: str
) -> None:
    d = only(IMG.format(layer=layer), "E004")
    assert at(d) == f"2:{column}"
    assert d.message == message
    assert "use output_padding below" in helps(d)


@pytest.mark.parametrize("word", ["same", "valid"])
def test_padding_same_or_valid_is_refused_with_the_output_size_rule(word: str) -> None:
    d = only(IMG.format(layer=f"conv2d_transpose(4, 3, stride = 2, padding = {word})"), "E004")
    assert at(d) == "2:50"
    assert f"conv2d_transpose takes no padding = {word}" in d.message
    assert "(in - 1) * stride - 2 * padding" in d.message
    assert "padding = 1 and output_padding = 1 double the size" in helps(d)


def test_output_padding_same_is_refused_too() -> None:
    d = only(IMG.format(layer="conv2d_transpose(4, 3, output_padding = same)"), "E004")
    assert "takes no output_padding = same" in d.message


@pytest.mark.parametrize(
    ("padding", "message"),
    [
        ("[[1, 0], [1, 1]]", "expected padding p or [height, width], found a list"),
        ("[1, 2, 3]", "expected padding p or [height, width], found a list"),
        ("-1", "expected an integer >= 0, found -1"),
    ],
)
def test_padding_is_one_number_per_axis(padding: str, message: str) -> None:
    code = "E004" if padding == "-1" else "E006"
    d = only(IMG.format(layer=f"conv2d_transpose(4, 3, padding = {padding})"), code)
    assert message in d.message
    assert at(d) == "2:38"


def test_an_empty_output_shows_the_formula() -> None:
    d = only("model m(x: [2, 1, 4]) {\n    conv2d_transpose(2, 1, padding = 1)\n}\n", "E011")
    assert at(d) == "2:5"
    assert "conv2d_transpose output height would be -1" in d.message
    assert d.notes == (
        "output = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding "
        "+ 1 = (1 - 1) * 1 - 2 * 1 + 0 + 0 + 1 = -1",
    )


def test_groups_must_divide_the_channels_and_the_filters() -> None:
    d = only(IMG.format(layer="conv2d_transpose(6, 3, groups = 4)"), "E015")
    assert "groups = 4 must divide the input channels (4) and the filters (6)" in d.message
    assert "use groups = 2" in helps(d)


def test_a_misspelt_argument_suggests_output_padding() -> None:
    d = only(IMG.format(layer="conv2d_transpose(4, 3, output_pading = 1)"), "E004")
    assert "did you mean 'output_padding'" in helps(d)


def test_bias_init_without_a_bias() -> None:
    d = only(IMG.format(layer="conv2d_transpose(4, 3, bias = false, bias_init = 1)"), "E004")
    assert "bias_init is given but bias = false" in d.message


def test_an_ir_op_with_uneven_padding_is_refused_by_the_shape_rule() -> None:
    """The Python API can build what the language cannot: PyTorch pads both sides alike."""
    op = ir_ops.Conv2dTranspose(filters=2, kernel=(3, 3), padding=((1, 0), (1, 1)))
    with pytest.raises(ShapeProblem) as caught:
        shapes.conv2d_transpose(op, [(1, 4, 4)])
    assert caught.value.code == "E004"
    assert caught.value.message == (
        "conv2d_transpose pads both sides of an axis alike, found padding [[1, 0], [1, 1]]"
    )


def test_per_axis_padding_becomes_even_sides_and_gives_torchs_size() -> None:
    """(in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1."""
    text = (
        "model m(x: [4, 5, 5]) { conv2d_transpose(6, [3, 2], 2, padding = [1, 0], "
        "output_padding = 1, groups = 2) }"
    )
    (node,) = netspec.load(text).model().nodes
    assert node.op.padding == ((1, 1), (0, 0))
    assert node.op.output_padding == (1, 1)
    assert node.output.shape == (6, (5 - 1) * 2 - 2 + 2 + 1 + 1, (5 - 1) * 2 + 1 + 1 + 1)
