"""``--set KEY=VALUE`` overrides: each kind of key, values checked like the spec, and
the diagnostics (E026, or the value's own) located in the override."""

from __future__ import annotations

from textwrap import dedent

import pytest

import netspec
from netspec import analyze
from netspec.diagnostics import Diagnostic
from netspec.errors import NetspecError

FILE = "t.net"

SPEC = """\
let width = 16
block res(w) { h = dense(w) -> relu
  add(input_tensor, h) }
model mlp(x: [64]) {
    dense(width) -> relu -> dense(10)
}
train mlp {
    data digits(flatten = true)
    loss softmax_cross_entropy
    optimizer sgd(0.1)
    batch_size 32
    epochs 2
    metrics loss, accuracy
}
"""


def load(*sets: str, text: str = SPEC) -> netspec.Program:
    return netspec.load(dedent(text), overrides=list(sets))


def errors(*sets: str, text: str = SPEC) -> list[Diagnostic]:
    return [d for d in analyze(dedent(text), FILE, overrides=list(sets)).diagnostics if d.is_error]


def one(*sets: str, code: str = "E026", text: str = SPEC) -> Diagnostic:
    found = errors(*sets, text=text)
    assert [d.code for d in found] == [code], analyze(
        dedent(text), FILE, overrides=list(sets)
    ).render()
    return found[0]


def at(d: Diagnostic) -> str:
    assert d.span is not None
    return f"{d.span.file}:{d.span.line}:{d.span.column}"


def test_a_layer_argument_by_node_name_and_shapes_infer_again() -> None:
    before = load().model()
    after = load("dense_1.units=512").model()
    assert before.node("dense_1").output.shape == (16,)
    assert after.node("dense_1").output.shape == (512,)
    # The next layer's weights follow the new width.
    assert after.parameter_count == 64 * 512 + 512 + 512 * 10 + 10
    assert after.parameter_count != before.parameter_count


def test_a_let_constant() -> None:
    model = load("let.width=2 * 16").model()
    assert model.node("dense_1").output.shape == (32,)


def test_an_activation_argument_and_a_layer_argument_not_written() -> None:
    model = load("dense_2.activation=softmax", "dense_1.bias=false").model()
    assert model.node("dense_2_softmax").op.kind == "softmax"
    assert [p.name for p in model.params if p.name.startswith("dense_1.")] == ["dense_1.weight"]


@pytest.mark.parametrize(
    ("sets", "field", "expected"),
    [
        (("epochs=3",), "epochs", 3),
        (("batch_size=64",), "batch_size", 64),
        (("seed=7",), "seed", 7),
        (("metrics=accuracy",), "metrics", ("accuracy",)),
        (('optimizer="adam(lr = 1e-3)"'.replace('"', ""),), "optimizer.kind", "adam"),
        (("optimizer=adam(lr = 1e-3)",), "optimizer.lr", 1e-3),
        # sgd(0.1) names lr by position: the override replaces it there.
        (("optimizer.lr=0.5",), "optimizer.lr", 0.5),
        (("optimizer.momentum=0.9",), "optimizer.momentum", 0.9),
        (("data.limit=100",), "data.limit", 100),
        (("schedule=cosine(t_max = 2)",), "schedule.kind", "cosine"),
        (("early_stopping=patience = 1, monitor = train_loss",), "early_stopping.patience", 1),
        (("precision=bf16",), "precision", "bf16"),
    ],
)
def test_train_settings(sets: tuple[str, ...], field: str, expected: object) -> None:
    value: object = load(*sets).train()
    for name in field.split("."):
        value = getattr(value, name)
    assert value == expected


def test_a_penalty_and_a_clip_threshold() -> None:
    program = load("regularize.l2=1e-4", "clip=norm(1)", "clip.threshold=2")
    assert program.model().params[0].regularize.l2 == 1e-4
    assert program.train().clip.threshold == 2.0  # type: ignore[union-attr]
    text = SPEC.replace("    epochs 2\n", "    epochs 2\n    regularize l2(1e-3), l1(1e-5)\n")
    weight = load("regularize.l2=1e-4", text=text).model().params[0]
    assert (weight.regularize.l2, weight.regularize.l1) == (1e-4, 1e-5)
    d = one("regularize.l3=1")
    assert d.message == "regularize has no penalty 'l3'" and at(d) == "<overrides>:1:18"


def test_the_program_records_its_overrides() -> None:
    program = netspec.load(SPEC, overrides={"epochs": 3, "optimizer.lr": 1e-4, "let.width": 8})
    assert program.overrides == ("epochs=3", "optimizer.lr=0.0001", "let.width=8")
    assert program.train().optimizer.lr == 1e-4  # type: ignore[union-attr]
    assert netspec.load(SPEC).overrides == ()


def test_a_node_inside_a_block() -> None:
    text = "block b(w) { dense(w) -> relu }\nmodel m(x: [4]) { b(3) -> b(3) }\n"
    model = load("b_2.dense_1.units=5", text=text).model()
    assert model.node("b_1.dense_1").output.shape == (3,)
    assert model.node("b_2.dense_1").output.shape == (5,)


SEVERAL = """\
model a(x: [2]) { dense(3) }
model b(x: [2]) { dense(2) }
train a { data xor  loss softmax_cross_entropy  optimizer sgd(0.1) }
train b { data xor  loss softmax_cross_entropy  optimizer sgd(0.1) }
"""


def test_several_models_need_the_models_name() -> None:
    d = one("dense_1.units=5", text=SEVERAL)
    assert d.message == "'dense_1.units' names something in several models (a, b)"
    assert d.help == ("put the model's name first: a.dense_1.units",)
    d = one("epochs=5", text=SEVERAL)
    assert "several models (a, b)" in d.message
    program = load("b.dense_1.units=5", "a.epochs=4", text=SEVERAL)
    assert program.model("a").node("dense_1").output.shape == (3,)
    assert program.model("b").node("dense_1").output.shape == (5,)
    assert program.train("a").epochs == 4 and program.train("b").epochs != 4  # type: ignore[union-attr]


def test_a_bad_value_is_drawn_under_the_override() -> None:
    analysis = analyze(SPEC, FILE, overrides=["epochs=2", "dense_1.units=abc"])
    (d,) = analysis.diagnostics
    assert at(d) == "<overrides>:2:21"
    assert analysis.render() == (
        "<overrides>:2:21: error[E006]: expected a positive integer, found the name 'abc'\n"
        "  |\n"
        "2 | --set dense_1.units=abc\n"
        "  |                     ^^^\n"
        "  |\n"
        "  = help: define it first: let abc = ...\n"
        "\n"
        "1 error"
    )


@pytest.mark.parametrize(
    ("override", "message", "where", "help"),
    [
        ("dens_1.units=3", "no node 'dens_1' in model 'mlp'", 7, "did you mean 'dense_1'"),
        ("dense_1.unit=3", "dense has no argument 'unit'", 15, "did you mean 'units'"),
        ("epoch=3", "'epoch' is not a train setting", 7, "did you mean 'epochs'?"),
        ("let.widht=3", "the spec has no constant 'widht'", 7, "did you mean 'let.width'?"),
        ("mlp.zzz.units=3", "no node 'zzz' in model 'mlp'", 7, "its nodes: dense_1, relu_1"),
        ("schedule.gamma=0.5", "sets no schedule, so 'schedule.gamma'", 7, "set the whole"),
        ("metrics.k=3", "'metrics' is not one call", 7, "set the whole setting"),
        ("epochs", "an override is KEY=VALUE, found 'epochs'", 7, "e.g. --set epochs=3"),
        ("dense 1.units=3", "'dense 1.units' is not an override key", 7, "a key is let.NAME"),
        ("epochs=", "the override of 'epochs' gives no value", 13, "write one after"),
        ("epochs=3 loss mse", "an override's value is one value", 14, "quote it whole"),
        ("dense_1.units=3, 4", "'dense_1.units' takes one value, found 2 values", 21, "quote"),
    ],
)
def test_e026_bad_overrides(override: str, message: str, where: int, help: str) -> None:
    d = one(override)
    assert message in d.message
    assert at(d) == f"<overrides>:1:{where}"
    assert help in " ".join(d.help)


def test_a_syntax_error_in_a_value_is_located_in_it() -> None:
    d = one("optimizer=adam(lr = 1e-3", code="E001")
    assert at(d) == "<overrides>:1:31"
    assert d.message == "expected ')' or ',', found the end of the value"
    d = one("epochs=3)", code="E001")
    assert at(d) == "<overrides>:1:15"
    assert d.message == "expected the end of the value, found ')'"
    d = one("epochs=3 4", code="E001")
    assert d.message == "expected the end of the value, found '4'"


def test_a_train_override_on_a_model_without_a_train_section() -> None:
    d = one("epochs=3", text="model m(x: [4]) { dense(2) }\n")
    assert d.message == "no train section of model 'm' to set 'epochs' in"


def test_an_override_fixes_a_search_space() -> None:
    text = SPEC.replace("sgd(0.1)", "sgd(log_uniform(1e-3, 1.0))")
    assert [s.path for s in analyze(text, FILE).spaces] == ["optimizer.lr"]
    assert analyze(text, FILE, overrides=["optimizer.lr=0.01"]).spaces == ()
    assert netspec.load(text, overrides=["optimizer.lr=0.01"]).train().optimizer.lr == 0.01  # type: ignore[union-attr]


def test_an_override_cannot_write_a_space() -> None:
    d = one("dense_1.units=int_uniform(8, 64)")
    assert d.message == "an override fixes a value; a search space is written in the spec"
    assert at(d) == "<overrides>:1:21"


def test_the_library_checks_the_overrides_argument() -> None:
    with pytest.raises(NetspecError, match="overrides are a mapping"):
        netspec.load(SPEC, overrides="epochs=3")  # type: ignore[arg-type]
    with pytest.raises(NetspecError, match=r"found the name 'abc'"):
        netspec.load(SPEC, overrides={"dense_1.units": "abc"})
    with pytest.raises(NetspecError, match=r"optimizer.lr: nan is not a number a spec can hold"):
        netspec.load(SPEC, overrides={"optimizer.lr": float("nan")})
    with pytest.raises(NetspecError, match=r"epochs: a value is a number, a boolean or spec"):
        netspec.load(SPEC, overrides={"epochs": [3]})
