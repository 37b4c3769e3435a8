"""Every diagnostic code, with its position, its message and its hint.

Each test feeds a small spec to ``netspec.analyze`` and checks the code, the exact
``line:column`` of the primary span, and the key words of the message and the help.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

from netspec import analyze
from netspec.diagnostics import CODES, Diagnostic

FILE = "t.net"


def diagnose(text: str, **options: int) -> list[Diagnostic]:
    return analyze(dedent(text), FILE, **options).diagnostics


def only(text: str, code: str, **options: int) -> Diagnostic:
    """The one diagnostic of ``text``; it must have ``code``."""
    found = diagnose(text, **options)
    assert [d.code for d in found] == [code], render(text, found)
    return found[0]


def first(text: str, code: str, **options: int) -> Diagnostic:
    """The first diagnostic with ``code`` among possibly several."""
    found = diagnose(text, **options)
    matching = [d for d in found if d.code == code]
    assert matching, render(text, found)
    return matching[0]


def render(text: str, found: list[Diagnostic]) -> str:
    from netspec.diagnostics import render_all

    return render_all(found, {FILE: dedent(text)})


def at(diagnostic: Diagnostic) -> str:
    assert diagnostic.span is not None
    return f"{diagnostic.span.line}:{diagnostic.span.column}"


def helps(diagnostic: Diagnostic) -> str:
    return " | ".join(diagnostic.help)


# Every registered code is exercised below or in the topic files beside this one
# (E008 and W005 in test_source_text.py, E031 and W006 in test_train_checks.py, E024 in
# test_imports.py, E016 in test_index_inputs.py, E025 in test_search_spaces.py, E026 in
# test_overrides.py): this
# list is checked against the registry.
TESTED = {
    "E001", "E002", "E003", "E004", "E005", "E006", "E007", "E008",
    "E010", "E011", "E012", "E013", "E014", "E015", "E016",
    "E020", "E021", "E022", "E023", "E024", "E025", "E026", "E030", "E031",
    "W001", "W002", "W003", "W004", "W005", "W006",
}  # fmt: skip


def test_every_registered_code_has_a_test() -> None:
    assert set(CODES) == TESTED


def test_codes_are_errors_or_warnings_by_their_letter() -> None:
    d = only("model m(x: [4]) { dense(4) -> dense(4) }", "W001")
    assert d.severity == "warning"
    d = only("model m(x: [4]) { dens(4) }", "E002")
    assert d.severity == "error"


# -- E001 syntax ------------------------------------------------------------------------


def test_e001_missing_comma_between_arguments() -> None:
    d = only(
        """\
        model m(x: [784]) {
            dense(10 relu)
        }
        """,
        "E001",
    )
    assert at(d) == "2:14"
    assert "expected ')' or ','" in d.message and "found 'relu'" in d.message
    assert "separate arguments with ','" in helps(d)


def test_e001_single_quotes() -> None:
    d = only("let s = 'abc'\n", "E001")
    assert at(d) == "1:9"
    assert "unexpected character" in d.message
    assert "double quotes" in helps(d)


def test_e001_semicolon() -> None:
    d = only("let a = 3;\n", "E001")
    assert at(d) == "1:10"
    assert "';'" in d.message
    assert "own line" in helps(d)


def test_e001_input_shape_not_a_list() -> None:
    d = only("model m(x: 784) { relu }\n", "E001")
    assert at(d) == "1:12"
    assert "found '784'" in d.message
    assert "[784]" in helps(d)


def test_e001_trailing_comma() -> None:
    d = only("model m(x: [3]) { dense(3,) }\n", "E001")
    assert at(d) == "1:27"
    assert "found ')'" in d.message
    assert "trailing ','" in helps(d)


def test_e001_keyword_as_a_name() -> None:
    d = only("model m(x: [3]) {\n    repeat = x -> relu\n}\n", "E001")
    assert at(d) == "2:12"
    assert "found '='" in d.message
    assert "'repeat' is a keyword and cannot name a tensor" in helps(d)


def test_e001_unclosed_brace_points_at_the_opening_brace() -> None:
    d = only(
        """\
        model m(x: [784]) {
            dense(10) -> relu
        """,
        "E001",
    )
    assert at(d) == "2:22"  # the end of the file
    assert d.message == "unexpected end of the file: the '{' on line 1 is never closed"
    assert [(label.span.line, label.span.column) for label in d.labels] == [(1, 19)]
    assert "never closed" in d.labels[0].message
    assert "'}'" in helps(d)


def test_e001_unclosed_bracket_ignores_brackets_in_comments_and_strings() -> None:
    d = only('model m(x: [1]) { # {\n    dense(3, init = "[") -> relu(\n', "E001")
    assert [(label.span.line, label.span.column) for label in d.labels] == [(2, 33)]
    assert "')'" in helps(d)


# -- E002 unknown names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "column", "suggestion"),
    [("dense2(10)", 16, "'dense'"), ("reluu", 16, "'relu'"), ("conv2(8, 3)", 16, "'conv2d'")],
)
def test_e002_misspelt_layer_suggests_the_layer(stage: str, column: int, suggestion: str) -> None:
    d = only(f"model m(x: [1, 8, 8]) {{\n    flatten -> {stage}\n}}\n", "E002")
    assert at(d) == f"2:{column}"
    assert "unknown layer or block" in d.message
    assert "did you mean" in helps(d) and suggestion in helps(d)


def test_e002_misspelt_block_suggests_the_block() -> None:
    d = only(
        """\
        block residual(c) {
            input x
            h = x -> conv2d(c, 3, padding = same)
            add(x, h)
        }

        model m(x: [4, 8, 8]) {
            residaul(4)
        }
        """,
        "E002",
    )
    assert at(d) == "8:5"
    assert "'residaul'" in d.message
    assert "did you mean 'residual'?" in helps(d)


def test_e002_two_misspelt_layers_in_one_chain_are_both_reported() -> None:
    found = diagnose("model m(x: [784]) {\n    dense(100) -> reluu -> dense2(10)\n}\n")
    assert [(d.code, at(d)) for d in found] == [("E002", "2:19"), ("E002", "2:28")]
    assert "'relu'" in helps(found[0]) and "'dense'" in helps(found[1])


def test_e002_unknown_tensor_in_a_merge() -> None:
    d = only(
        """\
        model m(x: [4]) {
            hidden = x -> dense(4) -> relu
            add(x, hiden)
        }
        """,
        "E002",
    )
    assert at(d) == "3:12"
    assert "unknown tensor 'hiden'" in d.message
    assert "did you mean 'hidden'?" in helps(d)


def test_e002_unknown_init_scheme() -> None:
    d = only("model m(x: [4]) {\n    dense(4, init = he_nromal)\n}\n", "E002")
    assert at(d) == "2:21"
    assert "unknown init scheme 'he_nromal'" in d.message
    assert "'he_normal'" in helps(d)


def test_e002_unknown_data_source_and_model_in_train() -> None:
    found = diagnose(
        """\
        model net(x: [784]) { dense(10) }
        train net {
            data mnsit
            loss softmax_cross_entropy
            optimizer sgd(lr = 0.1)
        }
        train nett {
            data mnist
            loss softmax_cross_entropy
            optimizer sgd(lr = 0.1)
        }
        """
    )
    assert [(d.code, at(d)) for d in found] == [("E002", "3:10"), ("E002", "7:7")]
    assert "unknown data source 'mnsit'" in found[0].message
    assert "'mnist'" in helps(found[0])
    assert "unknown model 'nett'" in found[1].message
    assert "'net'" in helps(found[1])


# -- E003 duplicates --------------------------------------------------------------------


def test_e003_constant_defined_twice_points_at_both() -> None:
    d = first("let a = 3\nlet a = 4\nmodel m(x: [a]) { relu }\n", "E003")
    assert at(d) == "2:5"
    assert "constant 'a' is already defined" in d.message
    assert [(label.span.line, label.span.column, label.message) for label in d.labels] == [
        (1, 5, "first defined here")
    ]


def test_e003_tensor_named_twice_and_argument_given_twice() -> None:
    found = diagnose(
        """\
        model m(x: [3]) {
            h = x -> relu
            h = x -> tanh
            add(x, h) -> dense(3, units = 4)
        }
        """
    )
    assert [(d.code, at(d)) for d in found] == [("E003", "3:5"), ("E003", "4:27")]
    assert "tensor 'h' is already defined" in found[0].message
    assert "argument 'units' is given twice" in found[1].message


def test_e003_block_named_like_a_layer() -> None:
    d = first("block dense { input x\n x }\nmodel m(x: [3]) { relu }\n", "E003")
    assert at(d) == "1:7"
    assert "name of a built-in layer" in d.message
    assert "dense_block" in helps(d)


# -- E004 bad arguments -----------------------------------------------------------------


def test_e004_misspelt_argument_name_suggests_the_argument() -> None:
    d = only("model m(x: [1, 28, 28]) {\n    conv2d(16, 3, paddin = 1)\n}\n", "E004")
    assert at(d) == "2:19"
    assert "conv2d has no argument 'paddin'" in d.message
    assert "did you mean 'padding'?" in helps(d)


def test_e004_misspelt_block_parameter() -> None:
    d = only(
        """\
        block widen(width) {
            dense(width) -> relu
        }
        model m(x: [4]) {
            widen(widht = 8)
        }
        """,
        "E004",
    )
    assert at(d) == "5:11"
    assert "block 'widen' has no parameter 'widht'" in d.message
    assert "did you mean 'width'?" in helps(d)


@pytest.mark.parametrize(("p", "column"), [("1.5", 20), ("-0.1", 20)])
def test_e004_dropout_probability_outside_zero_one(p: str, column: int) -> None:
    d = only(f"model m(x: [4]) {{\n    relu -> dropout({p})\n}}\n", "E004")
    assert at(d) == f"2:{column - 7}"
    assert "dropout probability" in d.message and "between 0 and 1" in d.message
    assert f"found {float(p):g}" in d.message
    assert "fraction of units dropped" in helps(d)


def test_e004_too_many_positional_arguments() -> None:
    d = only("model m(x: [4]) {\n    dense(3, 4)\n}\n", "E004")
    assert at(d) == "2:14"
    assert "at most 1 positional argument, found 2" in d.message
    assert "name the others" in helps(d)


def test_e004_pool_padding_as_large_as_the_kernel() -> None:
    d = only("model m(x: [1, 8, 8]) {\n    maxpool(2, padding = 2)\n}\n", "E004")
    assert at(d) == "2:5"
    assert "padding 2 must be smaller than the kernel 2" in d.message


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("optimizer adam(lr = 0.1, eps = -1)", "adam: eps must be >= 0, found -1"),
        ("optimizer sgd(lr = 0.1, momentum = -0.5)", "sgd: momentum must be >= 0, found -0.5"),
        ("optimizer adam(lr = 0.1, beta2 = 1)", "adam: beta2 must be in [0, 1), found 1"),
        ("optimizer sgd(0.1, lr = 0.2)", "argument 'lr' is given twice"),
    ],
)
def test_e004_optimizer_values_out_of_range(setting: str, message: str) -> None:
    found = diagnose(
        f"model m(x: [2]) {{ dense(1) }}\ntrain m {{\n    data xor\n    loss mse\n"
        f"    {setting}\n}}\n"
    )
    assert [d.message for d in found] == [message]
    assert found[0].span is not None and found[0].span.line == 5


def test_e004_none_mixed_with_penalties() -> None:
    d = only("model m(x: [4]) {\n    dense(2, regularize = [none, l2(1)])\n}\n", "E004")
    assert at(d) == "2:28"
    assert "none cannot be combined with penalties" in d.message


# -- E005 missing arguments -------------------------------------------------------------


def test_e005_missing_required_argument() -> None:
    d = only("model m(x: [1, 8, 8]) {\n    conv2d(kernel = 3)\n}\n", "E005")
    assert at(d) == "2:5"
    assert "conv2d needs the argument 'filters'" in d.message
    assert "for example: conv2d(" in helps(d)


def test_e005_merge_with_one_tensor() -> None:
    d = only("model m(x: [4]) {\n    add(x)\n}\n", "E005")
    assert at(d) == "2:5"
    assert "add needs at least two tensors, found 1" in d.message
    assert "add(x, h)" in helps(d)


def test_e005_train_section_without_loss_or_optimizer() -> None:
    d = only("model m(x: [4]) { dense(2) }\ntrain m {\n    data xor\n}\n", "E005")
    assert at(d) == "2:7"
    assert "has no loss, optimizer" in d.message
    assert "softmax_cross_entropy" in helps(d)


def test_e005_not_reported_for_a_setting_that_was_rejected() -> None:
    # `data mnst` is wrong, but it is there: no second error says that data is missing.
    found = diagnose(
        """\
        model m(x: [784]) { dense(10) }
        train m {
            data mnst
            loss softmax_cross_entropy
            optimizer sgd(lr = 0.1)
        }
        """
    )
    assert [d.code for d in found] == ["E002"]


def test_e005_missing_block_argument_points_at_the_parameter() -> None:
    d = only("block b(width) {\n    dense(width)\n}\nmodel m(x: [4]) {\n    b\n}\n", "E005")
    assert at(d) == "5:5"
    assert "block 'b' needs the argument 'width'" in d.message
    assert [(label.span.line, label.span.column) for label in d.labels] == [(1, 9)]


def test_e005_init_scheme_without_its_value() -> None:
    d = only("model m(x: [4]) {\n    dense(2, init = constant)\n}\n", "E005")
    assert at(d) == "2:21"
    assert "constant needs the argument 'value'" in d.message
    assert "constant(value = " in helps(d)


# -- E006 wrong types -------------------------------------------------------------------


def test_e006_string_where_a_number_belongs() -> None:
    d = only('model m(x: [4]) {\n    dense("ten")\n}\n', "E006")
    assert at(d) == "2:11"
    assert 'expected a positive integer, found the string "ten"' in d.message


def test_e006_unknown_input_dtype() -> None:
    d = only("model m(x: float16[3]) { relu }\n", "E006")
    assert at(d) == "1:12"
    assert "unknown input dtype 'float16'" in d.message
    assert "'float32'" in helps(d)


def test_e006_bool_word_misspelt() -> None:
    d = only("model m(x: [4]) {\n    dense(4, bias = flase)\n}\n", "E006")
    assert at(d) == "2:21"
    assert "expected true or false" in d.message
    assert "did you mean 'false'?" in helps(d)


def test_e006_misspelt_constant_as_an_argument_suggests_the_constant() -> None:
    d = only("let width = 8\nmodel m(x: [4]) {\n    dense(widht)\n}\n", "E006")
    assert at(d) == "3:11"
    assert "expected a positive integer, found the name 'widht'" in d.message
    assert "did you mean 'width'?" in helps(d)


def test_e006_true_is_spelt_as_in_the_language() -> None:
    d = only("model m(x: [4]) {\n    dropout(true)\n}\n", "E006")
    assert d.message == "expected a number, found true"


def test_e006_clip_without_its_threshold() -> None:
    d = first(
        "model m(x: [2]) { dense(1) }\ntrain m {\n    data xor\n    loss mse\n"
        "    optimizer sgd\n    clip norm\n}\n",
        "E006",
    )
    assert at(d) == "6:10"
    assert helps(d) == "give one threshold: norm(1.0)"


# -- E007 arithmetic --------------------------------------------------------------------


def test_e007_tower_of_powers_is_refused() -> None:
    d = only("let a = 10 ** 10 ** 10\nmodel m(x: [4]) { relu }\n", "E007")
    assert at(d) == "1:9"
    assert "too large" in d.message and "2**62" in d.message


def test_e007_division_by_zero() -> None:
    d = only("let a = 1\nlet b = a / (a - 1)\nmodel m(x: [4]) { relu }\n", "E007")
    assert at(d) == "2:9"
    assert "division by zero" in d.message


def test_e007_unknown_constant_in_arithmetic() -> None:
    d = only("let width = 8\nmodel m(x: [4]) {\n    dense(widht * 2)\n}\n", "E007")
    assert at(d) == "3:11"
    assert "unknown constant 'widht'" in d.message
    assert "did you mean 'width'?" in helps(d)


def test_e007_huge_literals() -> None:
    found = diagnose("let a = 1e400\nlet b = 99999999999999999999999\nmodel m(x: [4]) { relu }\n")
    assert [(d.code, at(d)) for d in found] == [("E007", "1:9"), ("E007", "2:9")]
    assert "too large" in found[0].message and "too large" in found[1].message


# -- E010 shape mismatch at merges ------------------------------------------------------


def test_e010_add_shows_both_shapes_in_message_labels_and_notes() -> None:
    d = only(
        """\
        block residual(c) {
            input x
            h = x -> conv2d(c, 3) -> relu -> conv2d(c, 3)
            add(x, h) -> relu
        }
        model m(x: [16, 12, 12]) {
            residual(16)
        }
        """,
        "E010",
    )
    assert at(d) == "4:5"
    assert "add needs equal shapes" in d.message
    assert "[16, 12, 12] and [16, 8, 8]" in d.message
    labels = {(label.span.line, label.span.column): label.message for label in d.labels}
    assert labels == {(6, 9): "this is [16, 12, 12]", (3, 38): "this is [16, 8, 8]"}
    assert "x is [16, 12, 12]" in d.notes and "h is [16, 8, 8]" in d.notes
    assert "padding = same" in helps(d)


def test_e010_concat_shows_both_shapes() -> None:
    d = only(
        """\
        model m(x: [1, 8, 8]) {
            a = x -> conv2d(4, 3)
            b = x -> conv2d(4, 5)
            concat(a, b)
        }
        """,
        "E010",
    )
    assert at(d) == "4:5"
    assert "concat along axis 0 needs all other sizes equal" in d.message
    assert "[4, 6, 6] and [4, 4, 4]" in d.message
    assert {label.message for label in d.labels} == {"this is [4, 6, 6]", "this is [4, 4, 4]"}
    assert "a is [4, 6, 6]" in d.notes and "b is [4, 4, 4]" in d.notes


def test_e010_conv_on_a_vector_suggests_reshape() -> None:
    d = only("model m(x: [784]) {\n    conv2d(8, 3)\n}\n", "E010")
    assert at(d) == "2:5"
    assert "conv2d needs a [channels, height, width] input, found [784]" in d.message
    assert "reshape(1, 28, 28)" in helps(d)


# -- E011 empty outputs -----------------------------------------------------------------


def test_e011_conv_output_would_be_empty_shows_the_computed_size() -> None:
    d = only("model m(x: [1, 8, 8]) {\n    relu -> conv2d(4, 9)\n}\n", "E011")
    assert at(d) == "2:13"
    assert "conv2d output height would be 0" in d.message
    assert "input height 8" in d.message and "kernel 9" in d.message
    assert d.notes == ("output = (in + pad - kernel) // stride + 1 = (8 + 0 - 9) // 1 + 1 = 0",)
    assert "padding = same" in helps(d)


def test_e011_pool_after_too_much_pooling() -> None:
    d = only("model m(x: [1, 4, 4]) {\n    maxpool(2) -> maxpool(2) -> maxpool(2)\n}\n", "E011")
    assert at(d) == "2:33"
    assert d.label == "input is [1, 1, 1]"
    assert "maxpool output height would be 0" in d.message
    assert d.notes[0].endswith("= (1 + 0 - 2) // 2 + 1 = 0")
    assert "pool less" in helps(d)


def test_e011_dilated_kernel_the_message_and_the_formula_agree() -> None:
    d = only("model m(x: [3, 8, 8]) {\n    conv2d(4, 3, dilation = 5)\n}\n", "E011")
    assert "would be -2" in d.message and "dilated kernel 11" in d.message
    assert d.notes[0].endswith("(8 + 0 - 11) // 1 + 1 = -2")


# -- E012 dense on a non-vector ---------------------------------------------------------


def test_e012_dense_on_an_image_says_insert_flatten() -> None:
    d = only("model m(x: [1, 28, 28]) {\n    conv2d(16, 3) -> dense(10)\n}\n", "E012")
    assert at(d) == "2:22"
    assert "dense needs a vector per sample, found [16, 26, 26]" in d.message
    assert d.label == "input is [16, 26, 26]"
    assert "flatten would give [10816]" in d.notes
    assert "insert flatten" in helps(d) and "-> flatten -> dense(10)" in helps(d)


# -- E013 literal arrays ----------------------------------------------------------------


def test_e013_ragged_array() -> None:
    d = only("model m(x: [2]) {\n    dense(2, weight = [[1, 2], [3]])\n}\n", "E013")
    assert at(d) == "2:32"
    assert "ragged array" in d.message and "expected 2 entries" in d.message


def test_e013_weight_written_in_out_suggests_the_transpose() -> None:
    # The book writes W1 as [in, out] = 2 x 3; netspec's dense weight is [out, in].
    d = only("model m(x: [2]) {\n    dense(weight = [[1, 3, 5], [2, 4, 6]])\n}\n", "E013")
    assert at(d) == "2:5"
    assert "hand-set weight of dense_1 is [2, 3], the layer needs [2, 2]" in d.message
    assert "[in, out]" in helps(d) and "transpose" in helps(d)


def test_e013_weight_rows_must_match_units() -> None:
    d = only("model m(x: [2]) {\n    dense(3, weight = [[1, 2], [3, 4]])\n}\n", "E013")
    assert at(d) == "2:23"
    assert "dense(3) has a hand-set weight with 2 rows" in d.message
    assert "[out, in]" in helps(d) and "transpose" not in helps(d)
    d = only("model m(x: [2]) {\n    dense(3, weight = [[1, 2, 3], [4, 5, 6]])\n}\n", "E013")
    assert "write its transpose (3 rows)" in helps(d)


def test_e013_bias_of_the_wrong_length() -> None:
    d = only("model m(x: [2]) {\n    dense(3, bias = [1, 2])\n}\n", "E013")
    assert at(d) == "2:5"
    assert "hand-set bias of dense_1 is [2], the layer needs [3]" in d.message


# -- E014 reshape -----------------------------------------------------------------------


def test_e014_reshape_to_a_different_size() -> None:
    d = only("model m(x: [784]) {\n    reshape(1, 27, 27)\n}\n", "E014")
    assert at(d) == "2:5"
    assert "cannot reshape [784] (784 values) to [1, 27, 27] (729 values)" in d.message


def test_e014_reshape_with_two_unknowns() -> None:
    d = only("model m(x: [784]) {\n    reshape(-1, -1)\n}\n", "E014")
    assert "at most one -1" in d.message


# -- E015 groups ------------------------------------------------------------------------


def test_e015_groups_must_divide_channels_and_filters() -> None:
    d = only("model m(x: [3, 8, 8]) {\n    conv2d(4, 3, groups = 2)\n}\n", "E015")
    assert at(d) == "2:5"
    assert "groups = 2 must divide the input channels (3) and the filters (4)" in d.message
    assert "groups = 1" in helps(d)


# -- E020 recursion ---------------------------------------------------------------------


def test_e020_block_that_uses_itself() -> None:
    d = only("block loop {\n    relu -> loop\n}\nmodel m(x: [4]) {\n    loop\n}\n", "E020")
    assert at(d) == "2:13"
    assert "block 'loop' uses itself: loop -> loop" in d.message
    assert [(label.span.line, label.span.column) for label in d.labels] == [(1, 7)]
    assert "repeat N" in helps(d)


def test_e020_mutual_recursion_names_the_cycle() -> None:
    d = only(
        """\
        block ping {
            relu -> pong
        }
        block pong {
            tanh -> ping
        }
        model m(x: [4]) {
            ping
        }
        """,
        "E020",
    )
    assert at(d) == "5:13"
    assert "uses itself: ping -> pong -> ping" in d.message


# -- E021 limits ------------------------------------------------------------------------


def test_e021_absurd_repeat_count_is_refused() -> None:
    d = only("model m(x: [4]) {\n    repeat 1000000000 { dense(4) -> relu }\n}\n", "E021")
    assert at(d) == "2:12"
    assert "repeat 1000000000 exceeds the limit of 10000" in d.message


def test_e021_nested_repeats_multiply_and_are_refused() -> None:
    d = only("model m(x: [4]) {\n    repeat 10000 { repeat 10000 { relu } }\n}\n", "E021")
    assert at(d) == "2:27"
    assert "100,000,000 times" in d.message


def test_e021_exponential_blocks_without_nodes_are_refused() -> None:
    # Each block calls the one before twice: 2**30 instances, none of which adds a node.
    text = "block b0 { }\n" + "".join(
        f"block b{i} {{ b{i - 1}\n b{i - 1} }}\n" for i in range(1, 31)
    )
    d = only(text + "model m(x: [4]) { b30 }\n", "E021")
    assert "more than 100,000 block instances" in d.message


def test_e021_parameter_total_over_the_cap() -> None:
    d = only("model big(x: [784]) {\n    dense(1000)\n}\n", "E021", max_params=10_000)
    assert at(d) == "1:7"
    assert "785,000 parameters, over the limit of 10,000" in d.message
    assert "--max-params" in helps(d)


def test_e021_deep_nesting_is_refused_not_a_recursion_error() -> None:
    d = only("let a = " + "[" * 5000 + "]" * 5000 + "\nmodel m(x: [4]) { relu }\n", "E021")
    assert d.span is not None and d.span.line == 1
    assert "nested more than 100 levels deep" in d.message


def test_e021_long_sum_and_deep_repeats() -> None:
    found = diagnose("let a = " + " + ".join(["1"] * 3000) + "\nmodel m(x: [4]) { relu }\n")
    assert [d.code for d in found] == ["E021"]
    text = "model m(x: [4]) {\n" + "repeat 1 { " * 500 + "relu" + " }" * 500 + "\n}\n"
    assert [d.code for d in diagnose(text)] == ["E021"]


def test_e021_huge_literal_array() -> None:
    # Built from a constant, so that the test need not parse a million numbers.
    row = "[" + ", ".join(["0"] * 1001) + "]"
    text = (
        f"let row = {row}\n"
        "model m(x: [1001]) {\n"
        f"    dense(100, weight = [{', '.join(['row'] * 100)}])\n"
        "}\n"
    )
    d = only(text, "E021")
    assert at(d) == "3:25"
    assert "literal array of 100100 numbers exceeds the limit of 100000" in d.message


# -- E022 structure ---------------------------------------------------------------------


def test_e022_tensor_used_as_a_layer() -> None:
    d = only("model m(x: [4]) {\n    h = x -> relu\n    x -> h\n}\n", "E022")
    assert at(d) == "3:10"
    assert "'h' is a tensor, not a layer" in d.message
    assert "add(" in helps(d)


def test_e022_input_declared_in_a_model() -> None:
    d = only("model m(x: [4]) {\n    input y\n    relu\n}\n", "E022")
    assert at(d) == "2:5"
    assert "'input' declares a block's input" in d.message


def test_e022_file_without_a_model() -> None:
    d = only("let a = 1\n", "E022")
    assert at(d) == "1:1"
    assert "defines no model" in d.message


def test_e022_second_block_input_does_not_cascade() -> None:
    found = diagnose(
        "block b {\n    input x\n    input y\n    add(x, y)\n}\nmodel m(x: [4]) { b }\n"
    )
    assert [(d.code, at(d)) for d in found] == [("E022", "3:5")]
    assert "a block has one input" in found[0].message
    assert "merge tensors before calling it" in helps(found[0])


# -- E023 version -----------------------------------------------------------------------


def test_e023_future_language_version() -> None:
    d = only("netspec 2\nmodel m(x: [4]) { relu }\n", "E023")
    assert at(d) == "1:1"
    assert "netspec 2" in d.message and "version 1" in d.message


# -- E030 train section -----------------------------------------------------------------


def test_e030_unknown_train_setting() -> None:
    d = only(
        """\
        model m(x: [784]) { dense(10) }
        train m {
            data mnist
            loss softmax_cross_entropy
            optimizer sgd(lr = 0.1)
            epoch 3
        }
        """,
        "E030",
    )
    assert at(d) == "6:5"
    assert "unknown train setting 'epoch'" in d.message
    assert "did you mean 'epochs'?" in helps(d)


# -- warnings ---------------------------------------------------------------------------


def test_w001_two_affine_layers_without_a_nonlinearity() -> None:
    d = only("model m(x: [784]) {\n    dense(100) -> dropout(0.5) -> dense(10)\n}\n", "W001")
    assert at(d) == "2:35"
    assert "dense follows dense with no nonlinearity" in d.message
    assert [(label.span.line, label.span.column) for label in d.labels] == [(2, 5)]
    assert "insert an activation" in helps(d)


def test_w002_softmax_before_softmax_cross_entropy() -> None:
    d = only(
        """\
        model m(x: [784]) {
            dense(10) -> softmax
        }
        train m {
            data mnist
            loss softmax_cross_entropy
            optimizer sgd(lr = 0.1)
        }
        """,
        "W002",
    )
    assert at(d) == "2:18"
    assert "ends in softmax" in d.message and "softmax_cross_entropy" in d.message
    assert "remove the final softmax" in helps(d)


def test_w003_dropout_of_one() -> None:
    d = only("model m(x: [4]) {\n    relu -> dropout(1)\n}\n", "W003")
    assert d.severity == "warning"
    assert at(d) == "2:13"
    assert "drops every unit" in d.message
    assert "[0, 1)" in helps(d)


def test_w004_unused_named_tensor() -> None:
    d = only("model m(x: [4]) {\n    skip = x -> relu\n    x -> dense(2)\n}\n", "W004")
    assert at(d) == "2:5"
    assert "tensor 'skip' is never used" in d.message
    assert "drop the name" in helps(d)


def test_w004_not_for_a_tensor_the_next_statement_consumes() -> None:
    assert diagnose("model m(x: [4]) {\n    h = x -> relu\n    dense(2)\n}\n") == []


def test_warnings_do_not_stop_the_program() -> None:
    analysis = analyze("model m(x: [4]) {\n    dense(4) -> dense(4)\n}\n")
    assert analysis.ok and analysis.program is not None
    assert [d.code for d in analysis.diagnostics] == ["W001"]


# -- many errors in one pass; rendering -------------------------------------------------

MANY = """\
let width = 16

model m(x: [1, 28, 28]) {
    conv2d(width, 3, paddin = 1) -> relu
    x -> conv2d(width, 3) -> dense(10)
    flaten
}

model m2(x: [10]) {
    dense(10) -> relu -> dropout(1.5)
}
"""


def test_several_errors_are_all_reported_in_one_pass() -> None:
    found = diagnose(MANY)
    assert [(d.code, at(d)) for d in found] == [
        ("E004", "4:22"),
        ("E012", "5:30"),
        ("E002", "6:5"),
        ("E004", "10:26"),
    ]


def test_errors_come_before_warnings_in_file_order() -> None:
    found = diagnose(
        """\
        model fine(x: [4]) {
            a = x -> relu
            x -> dense(4) -> dense(4)
        }
        model broken(x: [4]) {
            dens(2)
        }
        """
    )
    assert [(d.code, at(d)) for d in found] == [
        ("E002", "6:5"),
        ("W004", "2:5"),
        ("W001", "3:22"),
    ]


def test_a_misspelt_tensor_does_not_also_warn_that_the_meant_one_is_unused() -> None:
    found = diagnose("model m(x: [4]) {\n    hidden = x -> relu\n    add(x, hiden)\n}\n")
    assert [d.code for d in found] == ["E002"]


def test_render_has_location_source_line_caret_and_help() -> None:
    analysis = analyze(MANY, "specs/bad.net")
    text = analysis.render()
    assert "specs/bad.net:6:5: error[E002]: unknown layer or block 'flaten'" in text
    assert "6 |     flaten\n  |     ^^^^^^\n" in text
    assert "= help: did you mean 'flatten'?" in text
    assert text.endswith("4 errors")


def test_render_draws_secondary_labels_with_dashes() -> None:
    analysis = analyze("model m(x: [4]) {\n    a = x -> dense(3)\n    add(x, a)\n}\n", "r.net")
    text = analysis.render()
    assert "r.net:3:5: error[E010]: add needs equal shapes, found [4] and [3]" in text
    assert "3 |     add(x, a)\n  |     ^^^^^^^^^\n" in text
    assert "1 | model m(x: [4]) {\n  |         - this is [4]\n" in text
    assert "2 |     a = x -> dense(3)\n  |              -------- this is [3]\n" in text
    assert "= note: a is [3]" in text


def test_render_of_a_warning_and_colour() -> None:
    analysis = analyze("model m(x: [4]) {\n    relu -> dropout(1)\n}\n", "w.net")
    assert "w.net:2:13: warning[W003]:" in analysis.render()
    assert analysis.render().endswith("1 warning")
    assert "\x1b[" in analysis.render(color=True)
    assert "\x1b[" not in analysis.render()
