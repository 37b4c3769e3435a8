"""Integer inputs and embedding in the front end: the input's dtype, its propagation
through the ops that only move values, E016 where an op is given the wrong dtype, and
embedding's arguments, shape, parameter and summary."""

from __future__ import annotations

from textwrap import dedent

import pytest

import netspec
from netspec import analyze
from netspec.diagnostics import Diagnostic
from netspec.ir.init import Normal
from netspec.summary import summary_table

FILE = "t.net"


def diagnose(text: str) -> list[Diagnostic]:
    return analyze(dedent(text), FILE).diagnostics


def only(text: str, code: str) -> Diagnostic:
    found = diagnose(text)
    assert [d.code for d in found] == [code], [d.message for d in found]
    return found[0]


def at(diagnostic: Diagnostic) -> str:
    assert diagnostic.span is not None
    return f"{diagnostic.span.line}:{diagnostic.span.column}"


@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_integer_input_declares_its_dtype(dtype: str) -> None:
    model = netspec.load(f"model lm(x: {dtype}[40]) {{ embedding(65, 16) }}").model()
    assert model.input.dtype == dtype
    assert model.output_type.shape == (40, 16)
    assert model.output_type.dtype == "float32"


def test_unknown_input_dtype_suggests_the_integer_ones() -> None:
    d = only("model m(x: int46[4]) { embedding(5, 2) }", "E006")
    assert "unknown input dtype 'int46'" in d.message
    assert "int64" in " ".join(d.help)


def test_e016_integer_input_into_dense() -> None:
    d = only("model m(x: int64[40]) {\n    dense(10)\n}\n", "E016")
    assert at(d) == "2:5"
    assert d.message == "dense takes floating-point input, found int64 [40]"
    assert "embedding(num, dim)" in " ".join(d.help)
    # The input's declaration is labelled.
    assert [(label.span.line, label.span.column) for label in d.labels] == [(1, 9)]


def test_e016_integers_through_shape_ops_then_relu() -> None:
    text = "model m(x: int32[4, 6]) {\n    slice(1, 0, 3) -> flatten -> relu\n}\n"
    d = only(text, "E016")
    assert d.message == "relu takes floating-point input, found int32 [12]"


def test_e016_float_input_into_embedding() -> None:
    d = only("model m(x: [40]) {\n    embedding(10, 3)\n}\n", "E016")
    assert at(d) == "2:5"
    assert d.message == "embedding takes integer indices, found float32 [40]"
    assert "int64" in " ".join(d.help)


def test_e016_embedding_output_into_embedding() -> None:
    d = only("model m(x: int64[4]) {\n    embedding(10, 3) -> embedding(3, 2)\n}\n", "E016")
    assert d.message == "embedding takes integer indices, found float32 [4, 3]"


def test_integers_move_through_shape_ops_into_embedding() -> None:
    spec = """
    model m(x: int64[4, 6]) {
        transpose(0, 1) -> permute(1, 0) -> slice(0, 1) -> reshape(18)
        embedding(10, 3) -> flatten -> dense(2)
    }
    """
    model = netspec.load(dedent(spec)).model()
    dtypes = [(node.op.kind, node.output.dtype) for node in model.nodes]
    assert dtypes[:4] == [
        ("transpose", "int64"),
        ("permute", "int64"),
        ("slice", "int64"),
        ("reshape", "int64"),
    ]
    assert dtypes[4:] == [("embedding", "float32"), ("flatten", "float32"), ("dense", "float32")]


def test_embedding_parameter_is_torch_layout_with_normal_init() -> None:
    model = netspec.load("model m(x: int64[3]) { embedding(7, 5, padding_idx = -2) }").model()
    (spec,) = model.params
    assert (spec.name, spec.shape, spec.role) == ("embedding_1.weight", (7, 5), "weight")
    assert spec.init == Normal(mean=0.0, std=1.0)
    assert spec.zero_rows == (5,)
    # The checked op counts padding_idx from 0.
    assert model.nodes[0].op.padding_idx == 5  # type: ignore[union-attr]
    assert model.nodes[0].flops == 0


def test_embedding_index_shape_gains_a_last_axis() -> None:
    model = netspec.load("model m(x: int64[2, 3]) { embedding(7, 5) }").model()
    assert model.output_type.shape == (2, 3, 5)


@pytest.mark.parametrize("padding", ["7", "-8"])
def test_embedding_padding_idx_out_of_the_table(padding: str) -> None:
    d = only(f"model m(x: int64[3]) {{\n    embedding(7, 5, padding_idx = {padding})\n}}\n", "E004")
    assert at(d) == "2:21"
    assert f"embedding padding_idx {padding} is not a row of the 7-row table" in d.message
    assert "-7..6" in d.message


def test_embedding_needs_num_and_dim() -> None:
    d = only("model m(x: int64[3]) { embedding(7) }", "E005")
    assert "dim" in d.message


def test_embedding_misspelt_argument_gets_a_suggestion() -> None:
    d = only("model m(x: int64[3]) { embedding(7, 2, pading_idx = 0) }", "E004")
    assert "padding_idx" in " ".join(d.help)


def test_summary_writes_embedding_as_written() -> None:
    program = netspec.load("model m(x: int64[3]) { embedding(7, 5, padding_idx = 0) }")
    text = summary_table(program.model())
    assert "input int64" in text
    assert "embedding(7, 5, padding_idx = 0)" in text
    assert "[3, 5]" in text


# -- the text source in `netspec check` (E031) ----------------------------------------------

TEXT_TRAIN = """
train m {{
    data text("lines.txt", 8)
    loss {loss}
    optimizer adam
}}
"""


def _train_errors(model: str, loss: str = "softmax_cross_entropy") -> list[Diagnostic]:
    return [d for d in diagnose(model + TEXT_TRAIN.format(loss=loss)) if d.code == "E031"]


def test_check_passes_a_character_language_model() -> None:
    assert (
        diagnose(
            "model m(x: int64[8]) { embedding(20, 20) }"
            + TEXT_TRAIN.format(loss="softmax_cross_entropy")
        )
        == []
    )


def test_check_refuses_text_into_a_float_input() -> None:
    # [8] -> [8, 2]: scores per step, but from floats.
    (d,) = _train_errors("model m(x: [8]) { h = x -> reshape(8, 1)\n concat(h, h, axis = 1) }")
    assert d.message == "data text makes integer indices, but the model's input is float32 [8]"
    assert "x: int64[8]" in " ".join(d.help)


def test_check_wants_an_output_per_step() -> None:
    (d,) = _train_errors("model m(x: int64[8]) { embedding(20, 4) -> flatten -> dense(20) }")
    assert "so the model's output must be [8, classes]; found [20]" in d.message


def test_check_wants_cross_entropy_for_labels_per_step() -> None:
    (d,) = _train_errors("model m(x: int64[8]) { embedding(20, 20) }", loss="mse")
    assert "which needs softmax_cross_entropy, but the loss is mse" in d.message


def test_check_refuses_floats_into_an_integer_input() -> None:
    text = """
    model m(x: int64[64]) { embedding(20, 2) -> flatten -> dense(10) }
    train m {
        data digits(flatten = true)
        loss softmax_cross_entropy
        optimizer adam
    }
    """
    (d,) = [d for d in diagnose(text) if d.code == "E031"]
    assert "data digits makes floating-point samples, but the model's input is int64 [64]" in (
        d.message
    )


def test_perplexity_needs_cross_entropy() -> None:
    text = """
    model m(x: [4]) { dense(1) }
    train m {
        data linear(features = 4)
        loss mse
        optimizer adam
        metrics loss, perplexity
    }
    """
    (d,) = [d for d in diagnose(text) if d.code == "E031"]
    assert "perplexity is exp of the mean cross-entropy per label" in d.message


def test_check_refuses_a_csv_source_for_an_integer_input() -> None:
    text = """
    model m(x: int64[3]) { embedding(4, 2) -> flatten -> dense(2) }
    train m {
        data csv("f.csv", target = "y")
        loss softmax_cross_entropy
        optimizer adam
    }
    """
    analysis = analyze(dedent(text), FILE)
    (d,) = [d for d in analysis.diagnostics if d.code == "E031"]
    assert "data csv makes floating-point samples, but the model's input is int64 [3]" in (
        d.message
    )


def test_e016_a_model_that_ends_in_indices() -> None:
    d = only("model m(x: int64[4]) {\n    reshape(2, 2)\n}\n", "E016")
    assert at(d) == "2:5"
    assert d.message == (
        "the model's output is int64 [2, 2]: a model ends in floating-point values, not indices"
    )
