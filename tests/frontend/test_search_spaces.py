"""Search spaces in the language: where they stand, their own checks (E025), the checks
of each of their values against the argument they stand for, and the library functions
that list them and fix them at chosen values."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

import netspec
from netspec import analyze
from netspec.diagnostics import Diagnostic
from netspec.errors import NetspecError
from netspec.frontend import analyze_source
from netspec.ir.space import Choice, IntUniform, LogUniform, SpaceSite, Uniform

FILE = "t.net"

SPEC = """\
# a small classifier whose width, activation, dropout and optimizer are searched
let width = int_uniform(16, 64)
model mlp(x: [64]) {
    dense(width, activation = choice(relu, tanh)) -> dropout(uniform(0.1, 0.5)) -> dense(10)
}
train mlp {
    data digits(flatten = true)
    loss softmax_cross_entropy
    optimizer adam(lr = log_uniform(1e-5, 1e-2))
    batch_size choice(32, 64, 128)
    epochs 2
}
"""

VALUES = {
    "let.width": 32,
    "dense_1.activation": "tanh",
    "dropout_1.p": 0.25,
    "optimizer.lr": 3e-4,
    "batch_size": 64,
}


def errors(text: str) -> list[Diagnostic]:
    return [d for d in analyze(dedent(text), FILE).diagnostics if d.is_error]


def one(text: str, code: str = "E025") -> Diagnostic:
    found = errors(text)
    assert [d.code for d in found] == [code], analyze(dedent(text), FILE).render()
    return found[0]


def at(d: Diagnostic) -> str:
    assert d.span is not None
    return f"{d.span.line}:{d.span.column}"


def test_spaces_are_listed_with_paths_kinds_bounds_and_places() -> None:
    analysis = analyze(SPEC, FILE)
    assert analysis.ok, analysis.render()
    sites = {s.path: s for s in analysis.spaces}
    assert list(sites) == list(VALUES)
    assert sites["let.width"].space == IntUniform(low=16, high=64)
    assert sites["dense_1.activation"].space == Choice(options=("relu", "tanh"))
    assert sites["dropout_1.p"].space == Uniform(low=0.1, high=0.5)
    assert sites["optimizer.lr"].space == LogUniform(low=1e-5, high=1e-2)
    assert sites["batch_size"].space == Choice(options=(32, 64, 128))
    lr = sites["optimizer.lr"]
    assert (lr.span.line, lr.span.column, lr.text) == (9, 25, "log_uniform(1e-5, 1e-2)")
    assert lr.describe() == "optimizer.lr = log_uniform(1e-5, 1e-2) at t.net:9:25"


def test_the_program_is_checked_at_each_spaces_first_value() -> None:
    program = analyze(SPEC, FILE).program
    assert program is not None
    model = program.model()
    assert model.node("dense_1").output.shape == (16,)
    assert model.node("dense_1_relu").op.kind == "relu"
    train = program.train()
    assert train is not None and train.batch_size == 32 and train.optimizer.lr == 1e-5


def test_a_site_round_trips_through_json() -> None:
    site = analyze(SPEC, FILE).spaces[1]
    assert SpaceSite.model_validate_json(site.model_dump_json()) == site


def test_load_refuses_a_spec_with_spaces_and_names_them() -> None:
    with pytest.raises(NetspecError) as caught:
        netspec.load(SPEC)
    message = str(caught.value)
    assert message.startswith("the spec has search spaces (let.width at <string>:2:13, ")
    assert "use `netspec sweep` to search them, or fix them with --set" in message


def test_overrides_that_fix_every_space_make_the_spec_loadable() -> None:
    program = netspec.load(SPEC, overrides=VALUES)
    assert program.model().node("dense_1").output.shape == (32,)
    assert program.overrides[0] == "let.width=32"


def test_substitute_gives_the_program_and_the_text_and_they_agree(tmp_path: Path) -> None:
    path = tmp_path / "mlp.net"
    path.write_text(SPEC)
    chosen = netspec.substitute(path, VALUES)
    assert "let width = 32\n" in chosen.text
    assert "dense(width, activation = tanh) -> dropout(0.25)" in chosen.text
    assert "optimizer adam(lr = 0.0003)\n    batch_size 64\n" in chosen.text
    assert chosen.text.startswith("# a small classifier")  # comments are kept
    # The text, read back, means what the program does.
    again = netspec.load(chosen.text)
    assert again.models == chosen.program.models
    assert again.trains == chosen.program.trains
    assert chosen.program.model().node("dense_1_tanh").op.kind == "tanh"
    assert chosen.program.train().optimizer.lr == 3e-4  # type: ignore[union-attr]
    assert netspec.search_spaces(chosen.text) == ()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**VALUES, "let.widht": 3}, "no search space at 'let.widht'"),
        ({"let.width": 32}, "no value for the search space dense_1.activation"),
        ({**VALUES, "let.width": 3200}, "let.width: 3200 is outside int_uniform(16, 64)"),
        ({**VALUES, "let.width": 32.5}, "takes an integer, found 32.5"),
        ({**VALUES, "dense_1.activation": "relux"}, "'relux' is not one of the options"),
        ({**VALUES, "batch_size": 65}, "65 is not one of the options (32, 64, 128)"),
        ({**VALUES, "optimizer.lr": "fast"}, "takes a number, found 'fast'"),
    ],
)
def test_substitute_refuses_values_that_are_not_the_spaces(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(NetspecError) as caught:
        netspec.substitute(SPEC, values)
    assert message in str(caught.value)


def test_a_choice_of_optimizers_and_a_space_in_a_block_argument_through_a_let() -> None:
    text = """\
    let width = int_uniform(4, 8)
    block wide(w) { dense(w) -> relu }
    model m(x: [2]) { wide(width) -> dense(2) }
    train m {
        data xor
        loss softmax_cross_entropy
        optimizer choice(sgd(lr = 0.1), adam(lr = 1e-3))
    }
    """
    analysis = analyze(dedent(text), FILE)
    assert analysis.ok, analysis.render()
    sites = {s.path: s.space for s in analysis.spaces}
    assert sites["optimizer"] == Choice(options=("sgd(lr = 0.1)", "adam(lr = 1e-3)"))
    chosen = netspec.substitute(dedent(text), {"let.width": 5, "optimizer": "adam(lr = 1e-3)"})
    assert chosen.program.train().optimizer.kind == "adam"  # type: ignore[union-attr]
    assert chosen.program.model().node("wide_1.dense_1").output.shape == (5,)


def test_a_penalty_a_clip_threshold_and_early_stopping_are_named_by_their_parts() -> None:
    text = """\
    model m(x: [2]) { dense(4) -> relu -> dense(2) }
    train m {
        data xor(validation = 0.2)
        loss softmax_cross_entropy
        optimizer sgd(log_uniform(1e-3, 1.0))
        regularize l2(log_uniform(1e-6, 1e-3)), l1(1e-5)
        clip norm(uniform(0.5, 5))
        epochs 4
        early_stopping patience = int_uniform(1, 3)
    }
    """
    analysis = analyze(dedent(text), FILE)
    assert analysis.ok, analysis.render()
    assert [s.path for s in analysis.spaces] == [
        "optimizer.lr",
        "regularize.l2",
        "clip.threshold",
        "early_stopping.patience",
    ]


def test_several_models_prefix_their_paths() -> None:
    text = """\
    model a(x: [4]) { dense(int_uniform(2, 4)) }
    model b(x: [4]) { dense(int_uniform(3, 5)) }
    """
    assert [s.path for s in analyze(dedent(text), FILE).spaces] == [
        "a.dense_1.units",
        "b.dense_1.units",
    ]


DEEP = """\
let depth = int_uniform(1, 3)
model m(x: [4]) {
    repeat depth { dense(4) -> relu }
    dense(2)
}
"""


def test_a_repeat_count_through_a_let() -> None:
    analysis = analyze(DEEP, FILE)
    assert [s.path for s in analysis.spaces] == ["let.depth"]
    assert analysis.program is not None and len(analysis.program.model().nodes) == 3
    chosen = netspec.substitute(DEEP, {"let.depth": 3})
    assert len(chosen.program.model().nodes) == 7
    assert chosen.text.startswith("let depth = 3\n")


@pytest.mark.parametrize(
    ("text", "code", "where", "message"),
    [
        (DEEP.replace("(1, 3)", "(1, 20000)"), "E021", "1:28", "repeat 20000 exceeds the limit"),
        (DEEP.replace("int_uniform", "uniform"), "E006", "1:13", "repeat expected an integer"),
        (DEEP.replace("repeat depth", "repeat int_uniform(1, 3)"), "E025", "3:12", "cannot stand"),
    ],
)
def test_a_repeat_count_space_that_does_not_fit(
    text: str, code: str, where: str, message: str
) -> None:
    d = one(text, code)
    assert at(d) == where and message in d.message


def test_init_uniform_is_still_an_init_scheme() -> None:
    text = "model m(x: [4]) { dense(2, init = uniform(-0.1, 0.1), bias_init = uniform) }\n"
    analysis = analyze(text, FILE)
    assert analysis.ok and analysis.spaces == ()
    text = "defaults { init = uniform(low = -0.1, high = 0.1) }\nmodel m(x: [4]) { dense(2) }\n"
    assert analyze(text, FILE).spaces == ()
    # A choice of schemes is a space whose options are schemes.
    text = "model m(x: [4]) { dense(2, init = choice(uniform(-0.1, 0.1), he_normal)) }\n"
    (site,) = analyze(text, FILE).spaces
    assert site.space == Choice(options=("uniform(-0.1, 0.1)", "he_normal"))


def test_e025_a_lets_uniform_used_as_an_init_scheme() -> None:
    d = one("let u = uniform(-0.1, 0.1)\nmodel m(x: [4]) { dense(2, init = u) }\n")
    assert d.message == "this init is a search space, uniform(...) written as a let's value"
    assert at(d) == "2:35"


# -- E025: a space's own checks ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "column", "message"),
    [
        ("uniform(0.5, 0.1)", 27, "uniform: the low bound must be below the high one"),
        ("uniform(0.5, 0.5)", 27, "the low bound must be below the high one"),
        ("log_uniform(0, 0.5)", 39, "log_uniform needs bounds above 0, found low = 0"),
        ("log_uniform(-1, 0.5)", 39, "log_uniform needs bounds above 0"),
        ("int_uniform(0.5, 3)", 39, "int_uniform takes integer bounds, found 0.5"),
        ("uniform(0.1)", 27, "uniform takes two bounds, low and high, found 1 argument"),
        ("uniform(0.1, relu)", 40, "uniform takes numbers as its bounds, found the name 'relu'"),
        ("uniform(0.1, 0.2, step = 1)", 45, "uniform takes no named arguments"),
        ("choice()", 27, "choice needs at least one option"),
        ("choice(0.1, uniform(0.2, 0.3))", 39, "a search space cannot hold another"),
    ],
)
def test_e025_a_space_that_is_wrong_in_itself(value: str, column: int, message: str) -> None:
    d = one(f"model m(x: [4]) {{ dropout({value}) }}\n")
    assert message in d.message
    assert at(d) == f"1:{column}"


def test_e025_a_space_in_arithmetic() -> None:
    d = one("let w = int_uniform(2, 8)\nmodel m(x: [4]) { dense(w * 2) }\n")
    assert d.message == "a search space cannot take part in arithmetic"
    assert at(d) == "2:25"


def test_e025_a_space_written_inside_a_block_or_a_repeat() -> None:
    d = one("block b { dense(int_uniform(2, 8)) }\nmodel m(x: [4]) { b -> b }\n")
    assert "a search space cannot stand here" in d.message and at(d) == "1:17"
    assert "let" in " ".join(d.help)
    d = one("model m(x: [4]) { repeat 2 { dense(int_uniform(2, 8)) } }\n")
    assert at(d) == "1:36"


def test_e025_two_spaces_with_one_path() -> None:
    # reshape(1, 2, 2) gathers its positional values into its one argument, shape.
    d = one("model m(x: [4]) { reshape(int_uniform(1, 2), choice(2, 4), 2) }\n")
    assert d.message.startswith("a second search space at 'reshape_1.shape'")
    assert at(d) == "1:46"


def test_e025_a_space_among_a_settings_several_values() -> None:
    text = SPEC.replace("    epochs 2\n", "    epochs 2\n    metrics loss, choice(accuracy, mae)\n")
    d = one(text)
    assert "a search space cannot stand here" in d.message and at(d) == "12:19"


def test_e025_a_space_of_an_imported_file(tmp_path: Path) -> None:
    (tmp_path / "lib.net").write_text("let width = int_uniform(2, 8)\n")
    spec = tmp_path / "main.net"
    spec.write_text('import "lib.net"\nmodel m(x: [4]) { dense(width) }\n')
    (d,) = [d for d in analyze_source(spec).diagnostics if d.is_error]
    assert d.code == "E025" and d.message.startswith("a search space of an imported file")
    assert d.span is not None and d.span.file.endswith("lib.net")


def test_e025_a_space_nested_in_a_call() -> None:
    d = one("model m(x: [4]) { dense(2, init = normal(std = uniform(0.1, 0.2))) }\n")
    assert "cannot stand here" in d.message and at(d) == "1:48"


# -- each value of a space against the argument it stands for ----------------------------


def test_a_range_whose_low_end_does_not_fit() -> None:
    d = one("model m(x: [4]) { dense(int_uniform(0, 10)) }\n", "E004")
    assert d.message == "expected a positive integer, found 0"
    assert at(d) == "1:37"


def test_a_range_whose_high_end_does_not_fit() -> None:
    d = one("model m(x: [4]) { dropout(uniform(0.1, 1.5)) }\n", "E004")
    assert "found 1.5" in d.message and at(d) == "1:19"  # where dropout checks it
    assert [(label.span.column, label.message) for label in d.labels] == [
        (27, "with 1.5 from here")
    ]
    assert d.notes == ("every value of a search space must fit where it stands",)


def test_the_render_of_a_space_whose_value_the_layer_refuses() -> None:
    text = "model m(x: [4]) { dropout(uniform(0.1, 1.5)) }\n"
    assert analyze(text, FILE).render() == (
        "t.net:1:19: error[E004]: dropout probability must be between 0 and 1, found 1.5\n"
        "  |\n"
        "1 | model m(x: [4]) { dropout(uniform(0.1, 1.5)) }\n"
        "  |                   ^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "  |                           ----------------- with 1.5 from here\n"
        "  |\n"
        "  = note: every value of a search space must fit where it stands\n"
        "  = help: p is the fraction of units dropped: 0.5 drops half\n"
        "\n"
        "1 error"
    )


def test_a_real_range_where_an_integer_stands() -> None:
    # Both ends are whole numbers; a value drawn between them is not.
    d = one("model m(x: [4]) { dense(uniform(2, 8)) }\n", "E006")
    assert d.message.startswith("expected a positive integer, found 2.857")
    assert d.help == (
        "uniform draws real numbers, 2.85714 for one: for an integer write int_uniform(low, high)",
    )


def test_a_choice_with_an_option_of_the_wrong_kind() -> None:
    found = errors("model m(x: [4]) { dense(2, activation = choice(relu, dense, 3)) }\n")
    assert [(d.code, at(d)) for d in found] == [("E004", "1:54"), ("E006", "1:61")]
    assert "'dense' is a layer, not an activation" in found[0].message


def test_train_setting_spaces_are_checked_like_the_setting() -> None:
    text = """\
    model m(x: [64]) { dense(10) }
    train m {
        data digits(flatten = true)
        loss softmax_cross_entropy
        optimizer choice(sgd(lr = 0.1), adam(lr = -1), foo)
        batch_size int_uniform(0, 3)
    }
    """
    found = errors(text)
    messages = [(at(d), d.message) for d in found]
    assert messages == [
        ("5:37", "the learning rate must be > 0, found -1"),
        ("5:52", "unknown optimizer 'foo'"),
        ("6:28", "expected a positive integer, found 0"),
    ]


def test_check_passes_a_spec_whose_every_space_fits() -> None:
    assert errors(SPEC) == []
