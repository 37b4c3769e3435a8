"""The checked IR says checked: explicit paddings, axes from 0, and no initialisation or
penalties on its ops (those live in the model's ParamSpecs alone)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

import netspec
from netspec.ir import CheckedNode, Program
from netspec.ir import ops as ir_ops
from netspec.ir.init import XavierUniform
from tests.conftest import SPECS
from tests.frontend.test_op_registry import _spec_constants

# Fields of a written op that the checked model keeps in its ParamSpecs instead.
WRITTEN_ONLY = {"weight_init", "bias_init", "regularize", "init"}
PADS = ((1, 1), (1, 1))
EVERY_OP = ("tests/codegen/test_generated.py", "tests/codegen/test_numpy_codegen.py")


def _programs() -> list[Any]:
    texts = [pytest.param(path.read_text("utf-8"), id=path.name) for path in SPECS]
    texts += [pytest.param(_spec_constants(path)["ALL_OPS"], id=path) for path in EVERY_OP]
    return texts


@pytest.mark.parametrize("text", _programs())
def test_a_checked_model_holds_only_checked_ops(text: str) -> None:
    program = netspec.load(text)
    checked_classes = set(ir_ops.op_classes(ir_ops.CheckedOp))
    for model in program.models:
        for node in model.nodes:
            op = node.op
            assert type(op) in checked_classes, (node.name, type(op).__name__)
            assert WRITTEN_ONLY.isdisjoint(type(op).model_fields), node.name
            if "padding" in type(op).model_fields:
                # ((top, bottom), (left, right)) of an image, (left, right) of a sequence.
                sides = op.padding  # type: ignore[union-attr]
                if isinstance(sides[0], tuple):
                    sides = sides[0] + sides[1]
                assert len(sides) in (2, 4) and all(isinstance(p, int) for p in sides)
            if "axis" in type(op).model_fields:
                assert 0 <= op.axis < len(model.node(node.inputs[0]).output.shape)  # type: ignore[union-attr]
    # The checked IR validates against its own schema (Pads2d only, axes >= 0).
    assert Program.model_validate_json(program.model_dump_json()) == program


def test_the_every_op_specs_write_the_cases_checking_resolves() -> None:
    """The specs above hold a padding = same and a negative axis, so the test means it."""
    texts = [_spec_constants(path)["ALL_OPS"] for path in EVERY_OP]
    assert any("padding = same" in text for text in texts)
    assert any("axis = -1" in text for text in texts)


def test_checking_resolves_paddings_and_axes_and_moves_init_to_params() -> None:
    model = netspec.load(
        "model m(x: [2, 5, 5]) { h = x -> conv2d(4, 2, padding = same, init = xavier_uniform,"
        " regularize = l2(0.5)) -> maxpool(2, stride = 1, padding = same)"
        " -> softmax(axis = -1) -> log_softmax(axis = -3)\n"
        " c = concat(h, h, axis = -2) -> prelu(init = 0.5) }"
    ).model()
    conv, pool, softmax, log_softmax, concat, prelu = (node.op for node in model.nodes)
    assert conv == ir_ops.CheckedConv2d(filters=4, kernel=(2, 2), padding=((0, 1), (0, 1)))
    assert pool == ir_ops.CheckedMaxPool(kernel=(2, 2), stride=(1, 1), padding=((0, 1), (0, 1)))
    assert (softmax.axis, log_softmax.axis, concat.axis) == (2, 0, 1)  # type: ignore[union-attr]
    assert prelu == ir_ops.CheckedPrelu()
    weight = next(p for p in model.params if p.name == "conv2d_1.weight")
    assert weight.init == XavierUniform() and weight.regularize.l2 == 0.5
    slope = next(p for p in model.params if p.node == model.nodes[-1].name)
    assert slope.init.value == 0.5  # type: ignore[union-attr]


def test_checking_resolves_the_pads_of_a_sequence_to_left_and_right() -> None:
    """TensorFlow's "same" on the length axis: the odd cell of padding goes after."""
    model = netspec.load(
        "model m(x: [2, 9]) { conv1d(4, 4, stride = 2, padding = same, regularize = l2(0.5))"
        " -> maxpool1d(2, stride = 1, padding = same) -> avgpool1d(3, padding = valid) }"
    ).model()
    conv, maxpool, avgpool = (node.op for node in model.nodes)
    assert conv == ir_ops.CheckedConv1d(filters=4, kernel=4, stride=2, padding=(1, 2))
    assert maxpool == ir_ops.CheckedMaxPool1d(kernel=2, stride=1, padding=(0, 1))
    assert avgpool == ir_ops.CheckedAvgPool1d(kernel=3, stride=3, padding=(0, 0))
    assert [node.output.shape for node in model.nodes] == [(4, 5), (4, 5), (4, 1)]
    weight = next(p for p in model.params if p.name == "conv1d_1.weight")
    assert weight.shape == (4, 2, 4) and weight.regularize.l2 == 0.5


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (ir_ops.CheckedConv2d, {"filters": 1, "kernel": (3, 3), "padding": "same"}),
        (ir_ops.CheckedMaxPool, {"kernel": (2, 2), "stride": (2, 2), "padding": "valid"}),
        (ir_ops.CheckedAvgPool, {"kernel": (2, 2), "stride": (2, 2), "padding": "same"}),
        (ir_ops.CheckedSoftmax, {"axis": -1}),
        (ir_ops.CheckedLogSoftmax, {"axis": -1}),
        (ir_ops.CheckedConcat, {"axis": -2}),
        (ir_ops.CheckedDense, {"units": 3, "weight_init": {"scheme": "zeros"}}),
        (ir_ops.CheckedConv2d, {"filters": 1, "kernel": (3, 3), "regularize": {"l2": 0.1}}),
        (ir_ops.CheckedBatchNorm, {"bias_init": {"scheme": "zeros"}}),
        (ir_ops.CheckedPrelu, {"init": 0.1}),
        (ir_ops.CheckedConv1d, {"filters": 1, "kernel": 3, "padding": "same"}),
        (ir_ops.CheckedConv1d, {"filters": 1, "kernel": 3, "weight_init": {"scheme": "ones"}}),
        (ir_ops.CheckedMaxPool1d, {"kernel": 2, "stride": 2, "padding": "valid"}),
        (ir_ops.CheckedAvgPool1d, {"kernel": 2, "stride": 2, "padding": "same"}),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else next(reversed(value)),
)
def test_a_checked_op_refuses_what_only_a_written_op_may_say(
    cls: type[Any], fields: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        cls(**fields)
    # And so does a checked node read from JSON, whose op the union picks by kind.
    kind = cls.model_fields["kind"].default
    node = {"name": "n", "op": {"kind": kind, **fields}, "inputs": ["x"]}
    node["output"] = {"shape": [1], "dtype": "float32"}
    with pytest.raises(ValidationError):
        CheckedNode.model_validate(node)


@pytest.mark.parametrize(
    ("cls", "written", "resolved"),
    [
        (ir_ops.Conv2d, {"filters": 1, "kernel": (3, 3), "padding": "same"}, {"padding": PADS}),
        (ir_ops.Softmax, {"axis": -1}, {"axis": 0}),
        (ir_ops.Dense, {"units": 3, "regularize": {"l2": 0.1}}, {}),
        (ir_ops.Conv1d, {"filters": 1, "kernel": 4, "padding": "same"}, {"padding": (1, 2)}),
        (ir_ops.MaxPool1d, {"kernel": 2, "stride": 1, "padding": "valid"}, {"padding": (0, 0)}),
        (ir_ops.AvgPool1d, {"kernel": 3, "stride": 1, "padding": "same"}, {"padding": (1, 1)}),
    ],
)
def test_the_written_op_extends_its_checked_form(
    cls: type[Any], written: dict[str, Any], resolved: dict[str, Any]
) -> None:
    """A spec may still say these: the written class widens its checked form's fields and
    adds its extras after them, so each shared field is defined once."""
    checked = ir_ops.checked_form(cls)
    assert checked is not cls and issubclass(cls, checked)
    assert list(cls.model_fields)[: len(checked.model_fields)] == list(checked.model_fields)
    op = ir_ops.to_checked(cls.model_validate(written), **resolved)
    assert checked.model_validate(op.model_dump()) == op


def test_the_checked_union_has_every_kind_of_the_written_one() -> None:
    def kinds(union: Any) -> list[str]:
        return [cls.model_fields["kind"].default for cls in ir_ops.op_classes(union)]

    assert kinds(ir_ops.CheckedOp) == kinds(ir_ops.Op)
