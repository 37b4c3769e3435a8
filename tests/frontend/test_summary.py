"""`netspec summary` writes each op as a spec would: every non-default argument shown."""

from __future__ import annotations

import pytest

import netspec
from netspec.summary import summary_table


def op_column(layer: str, input_shape: str = "[4, 8, 8]") -> str:
    """The op cell of the one layer in a model made of ``layer``."""
    model = netspec.load(f"model m(x: {input_shape}) {{ {layer} }}").model()
    lines = summary_table(model).splitlines()
    header = lines[1]
    start, end = header.index(" op ") + 1, header.index(" output ")
    row = next(line for line in lines if line.strip().startswith(model.nodes[0].name))
    return row[start:end].strip()


@pytest.mark.parametrize(
    ("layer", "shown"),
    [
        ("batchnorm(eps = 1e-6)", "batchnorm(eps = 1e-6)"),
        ("batchnorm(momentum = 0.01, affine = false)",
         "batchnorm(momentum = 0.01, affine = false)"),
        ("batchnorm", "batchnorm"),
        ("conv2d(8, 3, bias = false, init = he_normal(mode = fan_out))",
         "conv2d(8, 3, bias = false, init = he_normal(mode = fan_out))"),
        ("conv2d(8, 3, regularize = [l2(1e-4), max_norm(3)])",
         "conv2d(8, 3, regularize = [l2(0.0001), max_norm(3)])"),
        ("conv2d(8, 3, bias_init = 0.1)", "conv2d(8, 3, bias_init = 0.1)"),
        ("prelu(per_channel = true, init = 0.1)", "prelu(per_channel = true, init = 0.1)"),
        ("elu(0.5)", "elu(alpha = 0.5)"),
        ("gelu(approximate = tanh)", "gelu(approximate = tanh)"),
        ("softplus(beta = 2, threshold = 10)", "softplus(beta = 2, threshold = 10)"),
        ("softmax(axis = 1)", "softmax(axis = 1)"),
        ("log_softmax(axis = 2)", "log_softmax(axis = 2)"),
        # Axes and paddings show as checked: counted from the front, explicit.
        ("softmax(axis = -1)", "softmax(axis = 2)"),
        ("conv2d(8, 3, padding = same)", "conv2d(8, 3, padding = 1)"),
        ("maxpool(2, stride = 1)", "maxpool(2, stride = 1)"),
        ("reshape(4, 64)", "reshape(4, 64)"),
    ],
)  # fmt: skip
def test_every_non_default_argument_is_shown(layer: str, shown: str) -> None:
    assert op_column(layer) == shown


def test_dense_shows_its_init_and_hand_set_weights() -> None:
    assert (
        op_column("dense(2, init = normal(0, 0.1))", "[3]") == "dense(2, init = normal(std = 0.1))"
    )
    assert (
        op_column("dense(weight = [[1, 2, 3], [4, 5, 6]], bias = [0, 1])", "[3]")
        == "dense(2, weight = <2 x 3 literal values>, bias = <2 literal values>)"
    )
