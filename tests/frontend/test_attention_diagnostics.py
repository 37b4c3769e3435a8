"""The sequence ops in the front end: multi_head_attention, positional_embedding and
dense on a [T, F] sequence. Shapes, parameters and FLOPs as the checker computes them,
and each bad argument refused at its own position with what was expected and found."""

from __future__ import annotations

import pytest

from netspec import load
from tests.frontend.test_diagnostics import at, helps, only

# (layer, input shape, code, line:column, words of the message, words of the help)
CASES = [
    (
        "multi_head_attention(3)",
        "[5, 8]",
        "E015",
        "2:22",
        "heads = 3 must divide the width, and the input [5, 8] has 8 features",
        "use heads = 2 or heads = 4 (dividing 8)",
    ),
    (
        "multi_head_attention(16)",
        "[5, 12]",
        "E015",
        "2:23",
        "heads = 16 must divide the width",
        "use heads = 12 (dividing 12)",
    ),
    (
        "multi_head_attention(2)",
        "[16]",
        "E010",
        "2:20",
        "multi_head_attention needs a [steps, features] input, found [16]",
        "reshape(1, 16)",
    ),
    (
        "multi_head_attention(2)",
        "[1, 28, 28]",
        "E010",
        "2:27",
        "needs a [steps, features] input, found [1, 28, 28]",
        "reshape(28, 28) -> dense(width)",
    ),
    ("multi_head_attention(0)", "[5, 8]", "E004", "2:43", "positive integer, found 0", ""),
    (
        "multi_head_attention(2, dropout = 1)",
        "[5, 8]",
        "E004",
        "2:56",
        "fraction in [0, 1), found 1",
        "",
    ),
    ("multi_head_attention(2, causal = 1)", "[5, 8]", "E006", "2:55", "true or false", ""),
    ("multi_head_attention", "[5, 8]", "E005", "2:22", "'heads'", "multi_head_attention(4"),
    (
        "multi_head_attention(2, casual = true)",
        "[5, 8]",
        "E004",
        "2:46",
        "'casual'",
        "'causal'",
    ),
    (
        "multi_head_atention(2)",
        "[5, 8]",
        "E002",
        "2:22",
        "'multi_head_atention'",
        "'multi_head_attention'",
    ),
    (
        "positional_embedding",
        "[3, 4, 4]",
        "E010",
        "2:25",
        "positional_embedding needs a [steps, features] input, found [3, 4, 4]",
        "",
    ),
    (
        "positional_embedding(init = zeroes)",
        "[3, 4]",
        "E002",
        "2:50",
        "unknown init scheme 'zeroes'",
        "'zeros'",
    ),
    # Images keep dense's old error: a forgotten flatten is the likely mistake there.
    (
        "dense(4)",
        "[2, 3, 4]",
        "E012",
        "2:25",
        "dense needs a vector per sample, found [2, 3, 4]",
        "insert flatten before dense",
    ),
]


@pytest.mark.parametrize(("layer", "shape", "code", "where", "message", "help"), CASES)
def test_a_bad_argument_is_refused_where_it_is(
    layer: str, shape: str, code: str, where: str, message: str, help: str
) -> None:
    found = only(f"netspec 1\nmodel m(x: {shape}) {{ {layer} }}\n", code)
    assert at(found) == where
    assert message in found.message
    assert help in helps(found)


def _model(shape: str, body: str):  # type: ignore[no-untyped-def]
    return load(f"netspec 1\nmodel m(x: {shape}) {{ {body} }}\n").models[0]


def test_dense_on_a_sequence_acts_on_each_step() -> None:
    checked = _model("[5, 7]", "dense(4)")
    assert checked.output_type.shape == (5, 4)
    assert {p.name: p.shape for p in checked.params} == {
        "dense_1.weight": (4, 7),
        "dense_1.bias": (4,),
    }
    # Each of the 5 steps: 2 FLOPs per weight and one per bias.
    assert checked.nodes[0].flops == 5 * (2 * 7 * 4 + 4)


def test_attention_owns_torchs_tensors_and_counts_its_flops() -> None:
    checked = _model("[6, 8]", "multi_head_attention(2)")
    assert checked.output_type.shape == (6, 8)
    assert [(p.name, p.attr, p.shape) for p in checked.params] == [
        ("multi_head_attention_1.in_proj_weight", "in_proj_weight", (24, 8)),
        ("multi_head_attention_1.in_proj_bias", "in_proj_bias", (24,)),
        ("multi_head_attention_1.out_proj.weight", "out_proj_weight", (8, 8)),
        ("multi_head_attention_1.out_proj.bias", "out_proj_bias", (8,)),
    ]
    # Projections 2 * T * D * 4D + biases 4 T D; scores and weighted sum 2 T^2 D each;
    # scaling and softmax 4 per score of each head.
    t, d, h = 6, 8, 2
    assert checked.nodes[0].flops == 8 * t * d * d + 4 * t * d + 4 * t * t * d + 4 * t * t * h
    unbiased = _model("[6, 8]", "multi_head_attention(2, bias = false)")
    assert [p.attr for p in unbiased.params] == ["in_proj_weight", "out_proj_weight"]


def test_positional_embedding_owns_a_table_of_the_input_shape() -> None:
    checked = _model("[6, 8]", "positional_embedding(init = zeros)")
    (param,) = checked.params
    assert (param.name, param.shape, param.init.scheme) == (
        "positional_embedding_1.weight",
        (6, 8),
        "zeros",
    )
    assert _model("[6, 8]", "positional_embedding").params[0].init.model_dump() == {
        "scheme": "normal",
        "mean": 0.0,
        "std": 0.02,
    }
