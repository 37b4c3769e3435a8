"""layer_norm and group_norm in the front end: their arguments and located diagnostics,
the parameters the checker gives them (names, shapes, initialisation, no penalties) and
the W001 lint, which must not see through them."""

from __future__ import annotations

from textwrap import dedent

import pytest

import netspec
from netspec import analyze
from netspec.diagnostics import Diagnostic
from netspec.ir.init import Ones, Regularize, Zeros

FILE = "t.net"


def diagnostics(layer: str, shape: str = "[6, 5, 5]") -> list[Diagnostic]:
    """The diagnostics of a model whose only layer, on line 2 column 5, is ``layer``."""
    text = dedent(f"""\
        model m(x: {shape}) {{
            {layer}
        }}
        """)
    return analyze(text, FILE).diagnostics


def only(layer: str, code: str, shape: str = "[6, 5, 5]") -> Diagnostic:
    found = diagnostics(layer, shape)
    assert [d.code for d in found] == [code], [(d.code, d.message) for d in found]
    return found[0]


def at(diagnostic: Diagnostic) -> str:
    assert diagnostic.span is not None
    return f"{diagnostic.span.line}:{diagnostic.span.column}"


def helps(diagnostic: Diagnostic) -> str:
    return " | ".join(diagnostic.help)


# -- bad arguments ----------------------------------------------------------------------


def test_group_norm_groups_must_divide_the_channels() -> None:
    d = only("group_norm(4)", "E015")
    assert at(d) == "2:5"
    assert d.message == "group_norm groups = 4 must divide the channels, and the input has 6"
    assert "use groups = 3 or groups = 6 (dividing 6)" in helps(d)


def test_group_norm_more_groups_than_channels_offers_the_largest_divisor() -> None:
    d = only("group_norm(8)", "E015", shape="[6]")
    assert "groups = 8" in d.message and "has 6" in d.message
    assert helps(d) == "use groups = 6 (dividing 6)"


def test_layer_norm_axes_beyond_the_sample() -> None:
    d = only("layer_norm(axes = 4)", "E004")
    assert at(d) == "2:5"
    assert "last 4 axes" in d.message and "[6, 5, 5] has 3" in d.message
    assert "axes = 3 normalises each whole sample" in helps(d)


@pytest.mark.parametrize(
    ("layer", "code", "column", "words"),
    [
        ("layer_norm(axes = 0)", "E004", 23, "expected a positive integer, found 0"),
        ("layer_norm(eps = 0)", "E004", 22, "expected a number > 0, found 0"),
        ("group_norm(0)", "E004", 16, "expected a positive integer, found 0"),
        ("group_norm(2.5)", "E006", 16, "expected a positive integer, found 2.5"),
        ("group_norm", "E005", 5, "group_norm needs the argument 'groups'"),
        ("group_norm(2, affine = 1)", "E006", 28, "expected true or false"),
    ],
)
def test_bad_argument_values_are_located(layer: str, code: str, column: int, words: str) -> None:
    d = only(layer, code)
    assert at(d) == f"2:{column}"
    assert words in d.message


@pytest.mark.parametrize(
    ("layer", "hint"),
    [
        ("layernorm", "did you mean 'layer_norm'?"),
        ("GroupNorm(2)", "did you mean 'group_norm'?"),
        ("layer_norm(axis = 2)", "did you mean 'axes'?"),
        ("layer_norm(normalized_shape = [5])", "axes = 1 for the last one"),
        ("layer_norm(elementwise_affine = false)", "netspec calls it 'affine'"),
        ("layer_norm(bias = false)", "layer_norm's scale and shift are switched together"),
        ("group_norm(num_groups = 2)", "netspec calls it 'groups'"),
        ("group_norm(2, num_channels = 6)", "infers the channels"),
    ],
)
def test_names_from_pytorch_get_netspecs_word(layer: str, hint: str) -> None:
    (d,) = diagnostics(layer)
    assert d.is_error and hint in helps(d), helps(d)


def test_an_activation_argument_is_refused() -> None:
    """Only dense and conv2d take activation = ...; a norm chains it."""
    (d,) = diagnostics("layer_norm(activation = relu)")
    assert "layer_norm(...) -> relu" in helps(d)


# -- parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "layer", "param_shape"),
    [
        ("[7]", "layer_norm", (7,)),
        ("[5, 7]", "layer_norm", (7,)),
        ("[5, 7]", "layer_norm(axes = 2)", (5, 7)),
        ("[3, 4, 5]", "layer_norm(axes = 3)", (3, 4, 5)),
        ("[6, 4, 5]", "group_norm(3)", (6,)),
        ("[6]", "group_norm(6)", (6,)),
    ],
)
def test_scale_and_shift_have_torchs_shapes(
    shape: str, layer: str, param_shape: tuple[int, ...]
) -> None:
    model = netspec.load(f"model m(x: {shape}) {{ {layer} }}").model()
    kind = layer.split("(")[0]
    assert [(p.name, p.shape) for p in model.params] == [
        (f"{kind}_1.weight", param_shape),
        (f"{kind}_1.bias", param_shape),
    ]
    assert model.state == ()


def test_affine_false_has_no_parameters() -> None:
    model = netspec.load(
        "model m(x: [6, 4, 5]) { layer_norm(affine = false) -> group_norm(2, affine = false) }"
    ).model()
    assert model.params == ()


def test_defaults_and_penalties_leave_the_scale_and_shift_alone() -> None:
    """Ones and zeros whatever ``defaults`` says, and never penalised."""
    program = netspec.load(
        dedent("""\
        netspec 1
        defaults {
            init = normal(0, 0.5)
            bias_init = 0.3
            regularize = l2(0.1)
        }
        model m(x: [6, 4]) {
            layer_norm -> group_norm(3) -> flatten -> dense(2)
        }
        """)
    )
    model = program.model()
    norms = [p for p in model.params if not p.node.startswith("dense")]
    assert len(norms) == 4
    for spec in norms:
        assert spec.init == (Ones() if spec.attr == "weight" else Zeros()), spec.name
        assert spec.regularize == Regularize(), spec.name
    dense_weight = next(p for p in model.params if p.name == "dense_1.weight")
    assert dense_weight.regularize.l2 == 0.1  # the defaults block did apply to dense


def test_summary_writes_the_arguments_back() -> None:
    from netspec.summary import summary_table

    model = netspec.load(
        "model m(x: [6, 4, 5]) { layer_norm(axes = 3, eps = 0.001) -> group_norm(2, "
        "affine = false) -> layer_norm }"
    ).model()
    table = summary_table(model)
    assert "layer_norm(axes = 3, eps = 0.001)" in table
    assert "group_norm(2, affine = false)" in table


# -- the W001 lint ----------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["layer_norm", "group_norm(2)"])
def test_a_norm_between_affine_layers_is_a_nonlinearity(norm: str) -> None:
    """x -> dense -> norm -> dense is not one affine map: each sample is divided by its
    own spread, so W001 must not look through the norm."""
    found = diagnostics(f"dense(4) -> {norm} -> dense(4)", shape="[4]")
    assert found == []
    warned = diagnostics("dense(4) -> dropout(0.1) -> dense(4)", shape="[4]")
    assert [d.code for d in warned] == ["W001"]
