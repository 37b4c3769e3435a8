"""Every problem of a call is reported, and habits from Keras and PyTorch get targeted help."""

from __future__ import annotations

from textwrap import dedent

import pytest

from netspec import analyze
from netspec.diagnostics import Diagnostic

FILE = "t.net"


def diagnose(text: str) -> list[Diagnostic]:
    return analyze(dedent(text), FILE).diagnostics


def at(diagnostic: Diagnostic) -> str:
    assert diagnostic.span is not None
    return f"{diagnostic.span.line}:{diagnostic.span.column}"


def helps(diagnostic: Diagnostic) -> str:
    return " | ".join(diagnostic.help)


def test_every_unknown_argument_of_a_layer_is_reported() -> None:
    found = diagnose("model m(x: [1, 28, 28]) { conv2d(8, 3, paddding = same, strid = 2) }")
    assert [(d.code, at(d), d.message) for d in found] == [
        ("E004", "1:40", "conv2d has no argument 'paddding'"),
        ("E004", "1:57", "conv2d has no argument 'strid'"),
    ]
    assert "'padding'" in helps(found[0])
    assert "'stride'" in helps(found[1])


def test_unknown_and_repeated_arguments_are_reported_together() -> None:
    found = diagnose("model m(x: [4]) { dense(4, bais = false, init = zeros, init = ones) }")
    assert [(d.code, at(d)) for d in found] == [("E004", "1:28"), ("E003", "1:56")]


def test_every_unknown_argument_of_an_optimizer_and_an_init_scheme_is_reported() -> None:
    found = diagnose(
        """\
        model m(x: [4]) { dense(2, init = normal(meen = 0, sdt = 1)) }
        train m {
            data xor
            loss softmax_cross_entropy
            optimizer sgd(lr = 0.1, momentom = 0.9, nestrov = true)
        }
        """
    )
    assert [(d.code, at(d), d.message) for d in found] == [
        ("E004", "1:42", "normal has no argument 'meen'"),
        ("E004", "1:52", "normal has no argument 'sdt'"),
        ("E004", "5:29", "sgd has no argument 'momentom'"),
        ("E004", "5:45", "sgd has no argument 'nestrov'"),
    ]


def test_activation_argument_of_a_layer_without_one_says_to_chain_it() -> None:
    (d,) = diagnose("model m(x: [1, 28, 28]) { batchnorm(activation = relu) }")
    assert (d.code, at(d)) == ("E004", "1:37")
    assert "no activation argument" in helps(d) and "batchnorm(...) -> relu" in helps(d)
    assert "dilation" not in helps(d)


def test_activation_passed_positionally_says_to_name_it_or_chain_it() -> None:
    (d,) = diagnose("model m(x: [1, 28, 28]) { conv2d(32, 3, tanh) }")
    assert "activation = tanh" in helps(d) and "-> tanh" in helps(d)
    assert "let tanh" not in helps(d)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("dense(3, relu)", "dense(..., activation = relu)"),
        ("dropout(0.5, relu)", "dropout has no activation argument"),
    ],
)
def test_an_activation_after_the_last_positional_argument_gets_the_same_help(
    call: str, expected: str
) -> None:
    (d,) = diagnose(f"model m(x: [4]) {{ {call} }}")
    assert d.code == "E004" and expected in helps(d)


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("conv2d(32, kernel_size = 3)", "'kernel': conv2d(kernel = ...)"),
        ("conv2d(32, 3, strides = 2)", "'stride'"),
        ("conv2d(kernel = 3, out_channels = 8)", "'filters'"),
        ("conv2d(kernel = 3, units = 8)", "'filters'"),
        ("conv2d(32, 3, dilation_rate = 2)", "'dilation'"),
        ("conv2d(32, 3, use_bias = false)", "'bias'"),
        ("conv2d(32, 3, in_channels = 1)", "infers input sizes"),
        ("conv2d(32, 3, padding_mode = zeros)", "always with zeros"),
        ("conv2d(32, 3) -> relu(inplace = true)", "no in-place"),
        ("conv2d(32, 3) -> maxpool(pool_size = 2)", "'kernel'"),
        ("conv2d(32, 3) -> batchnorm(epsilon = 1e-3)", "'eps'"),
        ("conv2d(32, 3) -> batchnorm(bias = false)", "affine = false"),
        ("flatten -> dense(filters = 10)", "'units'"),
        ("flatten -> dense(out_features = 10)", "'units'"),
        ("flatten -> dense(10, in_features = 784)", "infers input sizes"),
        ("flatten -> dropout(rate = 0.5)", "'p'"),
        ("flatten -> leaky_relu(alpha = 0.2)", "'negative_slope'"),
        ("flatten -> softmax(dim = 0)", "'axis'"),
        ("flatten -> dense(10, kernel_initializer = zeros)", "'init'"),
    ],
)
def test_keras_and_pytorch_argument_names_get_targeted_help(call: str, expected: str) -> None:
    found = diagnose(f"model m(x: [1, 28, 28]) {{ {call} }}")
    assert [d.code for d in found] == ["E004"], found
    assert expected in helps(found[0])


@pytest.mark.parametrize("word", ["valid", "same", "VALID"])
def test_padding_as_a_string_says_to_drop_the_quotes(word: str) -> None:
    (d,) = diagnose(f'model m(x: [1, 28, 28]) {{ conv2d(8, 3, padding = "{word}") }}')
    assert (d.code, at(d)) == ("E006", "1:50")
    assert "without quotes" in helps(d) and word.lower() in helps(d)


def test_tuple_kernel_says_to_write_a_list() -> None:
    (d,) = diagnose("model m(x: [1, 28, 28]) { conv2d(32, (3, 3)) }")
    assert (d.code, at(d), d.message) == ("E001", "1:40", "expected ')', found ','")
    assert "[3, 3]" in helps(d)


def test_a_train_setting_written_as_a_call_says_to_drop_the_parentheses() -> None:
    spec = (
        "model m(x: [4]) { dense(2) }\n"
        "train m {\n"
        "    data xor\n"
        "    early_stopping(monitor = val_loss, patience = 3)\n"
        "}\n"
    )
    (d,) = diagnose(spec)
    assert (d.code, at(d)) == ("E001", "4:28")
    assert helps(d) == (
        "a train setting takes its arguments without parentheses: "
        "early_stopping monitor = val_loss, patience = 3"
    )


def test_an_equals_sign_in_a_layer_call_gets_no_train_setting_help() -> None:
    (d,) = diagnose("model m(x: [4]) { dense((units = 2)) }")
    assert d.code == "E001"
    assert not any("train setting" in h for h in helps(d))


def test_a_model_input_without_its_shape_says_what_a_model_input_is() -> None:
    (d,) = diagnose("model m(a, b: [4]) { dense(1) }")
    assert (d.code, at(d)) == ("E001", "1:10")
    assert "NAME: [DIMS]" in helps(d) and "[3, 3]" not in helps(d)


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("dense(2) \u2192 relu", 28, "'->'"),
        ("dense(2, init = normal(0, \u22121))", 45, "'-'"),
        ("dense(2 \u00d7 3)", 27, "'*'"),
        ("dense(2, init = \u201czeros\u201d)", 35, "plain double quotes"),
        ("dense(2, init = \u2018zeros\u2019)", 35, "plain double quotes"),
        ("dense(2)\u00a0-> relu", 27, "plain space"),
    ],
)
def test_unicode_look_alikes_say_which_ascii_to_write(
    text: str, column: int, expected: str
) -> None:
    (d,) = diagnose(f"model m(x: [3]) {{ {text} }}")
    assert (d.code, at(d)) == ("E001", f"1:{column}")
    assert expected in helps(d)


def test_every_unknown_argument_of_a_block_is_reported() -> None:
    found = diagnose(
        """\
        block b(c, k = 3) {
            dense(c)
        }
        model m(x: [4]) {
            b(4, kk = 1, cc = 2)
        }
        """
    )
    assert [(d.code, at(d), d.message) for d in found] == [
        ("E004", "5:10", "block 'b' has no parameter 'kk'"),
        ("E004", "5:18", "block 'b' has no parameter 'cc'"),
    ]
