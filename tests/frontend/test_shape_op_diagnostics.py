"""Diagnostics of permute, transpose, slice, adaptive_avgpool and upsample: each bad
argument is refused at its own position (a bad value at the value, a bad shape at the
layer) with what was expected and what was found."""

from __future__ import annotations

import pytest

from tests.frontend.test_diagnostics import at, helps, only

# (layer, input shape, code, line:column, words of the message, words of the help)
CASES = [
    (
        "permute(1)",
        "[3, 4]",
        "E004",
        "2:22",
        "names 1 axis; the input [3, 4] has 2",
        "each of the 2",
    ),
    ("permute(1, 1)", "[3, 4]", "E004", "2:22", "names axis 1 twice", "each of the 2"),
    ("permute(0, 2)", "[3, 4]", "E004", "2:22", "permute axis 2 is out of range", ""),
    ("permute(-3, 0)", "[3, 4]", "E004", "2:22", "permute axis -3 is out of range", ""),
    ("transpose(0, -3)", "[3, 4]", "E004", "2:22", "transpose axis -3 is out of range", ""),
    ("transpose(0)", "[3, 4]", "E005", "2:22", "needs the argument 'axis1'", "transpose(0, 1)"),
    ("slice(2, 0)", "[3, 4]", "E004", "2:22", "slice axis 2 is out of range", ""),
    ("slice(0, 3, 1)", "[3, 4]", "E010", "2:22", "axis 0 (size 3) from 3 to 1", "negative"),
    ("slice(0, 5)", "[3, 4]", "E010", "2:22", "from 5 to end with step 1 is empty", ""),
    ("slice(-1, -1, -3)", "[3, 4]", "E010", "2:22", "axis 1 (size 4) from -1 to -3", ""),
    ("slice(0, 0, 1, step = 0)", "[3, 4]", "E004", "2:44", "positive integer, found 0", ""),
    ("slice(0, 0, 1, step = -1)", "[3, 4]", "E004", "2:44", "positive integer, found -1", ""),
    ("slice(0, 0.5)", "[3, 4]", "E006", "2:31", "expected an integer, found 0.5", ""),
    (
        "upsample(2, align_corners = true)",
        "[3, 4, 4]",
        "E004",
        "2:37",
        "align_corners = true needs mode = bilinear",
        "mode = bilinear, align_corners = true",
    ),
    (
        "upsample(2, mode = bilinar)",
        "[3, 4, 4]",
        "E006",
        "2:44",
        "nearest or bilinear",
        "'bilinear'",
    ),
    ("upsample(0)", "[3, 4, 4]", "E004", "2:34", "positive integer, found 0", ""),
    ("upsample(1.5)", "[3, 4, 4]", "E006", "2:34", "positive integer, found 1.5", ""),
    (
        "upsample(2)",
        "[16]",
        "E010",
        "2:20",
        "[channels, height, width] input, found [16]",
        "reshape(1, 4, 4)",
    ),
    ("adaptive_avgpool([2, 0])", "[3, 4, 4]", "E004", "2:46", "positive integer, found 0", ""),
    (
        "adaptive_avgpool([2, 2, 2])",
        "[3, 4, 4]",
        "E006",
        "2:42",
        "[height, width], found a list of 3",
        "",
    ),
    ("adaptive_avgpool(2)", "[3, 4]", "E010", "2:22", "needs a [channels, height, width]", ""),
    ("adaptive_avgpol(2)", "[3, 4, 4]", "E002", "2:25", "'adaptive_avgpol'", "'adaptive_avgpool'"),
    ("permut(1, 0)", "[3, 4]", "E002", "2:22", "'permut'", "'permute'"),
]


@pytest.mark.parametrize(("layer", "shape", "code", "where", "message", "help"), CASES)
def test_a_bad_argument_is_refused_where_it_is(
    layer: str, shape: str, code: str, where: str, message: str, help: str
) -> None:
    found = only(f"netspec 1\nmodel m(x: {shape}) {{ {layer} }}\n", code)
    assert at(found) == where
    assert message in found.message
    assert help in helps(found)
