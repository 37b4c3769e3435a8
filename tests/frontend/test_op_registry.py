"""The op registry: one entry per op kind of the IR, consistent with the IR and the
language, and every hand-written list of ops (the every-op specs of the tests, the
documentation's tables) checked against it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import netspec
from netspec.ir import ParamSpec
from netspec.ir import ops as ir_ops
from netspec.ops import (
    ACTIVATION_KINDS,
    AFFINE_KINDS,
    KINDS,
    LAYER_NAMES,
    MERGE_KINDS,
    OPS,
    SIGNATURES,
    ir_kinds,
    table,
)
from netspec.ops.params import as_written
from netspec.ops.signature import REQUIRED
from netspec.ops.text import describe
from tests.conftest import ROOT


def test_every_ir_op_kind_has_one_entry_of_its_own_class() -> None:
    union = ir_ops.Op.__origin__.__args__  # type: ignore[attr-defined]
    assert KINDS == ir_kinds() == tuple(cls.model_fields["kind"].default for cls in union)
    for kind, facts in OPS.items():
        assert facts.ir.model_fields["kind"].default == kind


def test_a_kind_without_an_entry_stops_the_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table, "_ENTRIES", table._ENTRIES[1:])
    with pytest.raises(RuntimeError, match=r"no entry for \['dense'\]"):
        table._registry()


def test_the_derived_name_tables() -> None:
    assert {"add", "multiply", "concat"} == MERGE_KINDS
    assert {"dense", "conv2d", "conv1d", "conv2d_transpose"} == AFFINE_KINDS
    # Every op the checker does not insert by itself is a word of the language.
    assert set(KINDS) - set(LAYER_NAMES) == {"standardize"}


@pytest.mark.parametrize("kind", LAYER_NAMES)
def test_signature_defaults_are_the_ir_defaults(kind: str) -> None:
    """An argument named like an IR field defaults to that field's default."""
    fields = OPS[kind].ir.model_fields
    for param in SIGNATURES[kind].params:
        if param.name in fields and param.default not in (REQUIRED, None):
            assert fields[param.name].default == param.default, param.name


# -- the every-op specs written by hand in the tests -----------------------------------


def _spec_constants(path: str) -> dict[str, str]:
    """The module-level string constants of a test file that hold a model."""
    tree = ast.parse((ROOT / path).read_text("utf-8"))
    return {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and "model " in node.value.value
    }


def _kinds_of(text: str) -> set[str]:
    program = netspec.load(text)
    return {node.op.kind for model in program.models for node in program.model(model.name).nodes}


@pytest.mark.parametrize(
    "path", ["tests/codegen/test_generated.py", "tests/codegen/test_numpy_codegen.py"]
)
def test_every_op_spec_holds_every_op_kind(path: str) -> None:
    assert set(KINDS) - _kinds_of(_spec_constants(path)["ALL_OPS"]) == set()


def test_the_trainable_spec_holds_every_language_op_with_parameters() -> None:
    owners = {
        kind
        for kind in LAYER_NAMES
        if OPS[kind].params is not table.param_rules.none
        or OPS[kind].state is not table.param_rules.none
    }
    constants = _spec_constants("tests/codegen/test_torch_codegen.py")
    kinds = _kinds_of(constants["TRAINABLE"]) | _kinds_of(constants["TRAINABLE_INDICES"])
    assert owners - kinds == set()


# -- the documentation's op tables -----------------------------------------------------


def _first_column_names(text: str, header: str) -> set[str]:
    """The backquoted names in the first column of the markdown table headed ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    names: set[str] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        names |= set(re.findall(r"`(\w+)`", line.split("|")[1]))
    return names


def test_the_language_docs_list_every_layer_and_activation() -> None:
    text = (ROOT / "docs" / "language.md").read_text("utf-8")
    listed = _first_column_names(text, "layer") | _first_column_names(text, "activation")
    assert set(LAYER_NAMES) - listed == set()
    assert listed - set(LAYER_NAMES) == set()


def test_the_semantics_doc_defines_every_op() -> None:
    """Layers under a heading of their own (section 3), activations in the table of
    section 4: forward, derivative and kink."""
    text = (ROOT / "docs" / "semantics.md").read_text("utf-8")
    headed = {
        name
        for line in text.splitlines()
        if line.startswith("### ")
        for name in re.findall(r"\w+", line[4:])
    }
    activations = set(
        re.findall(r"^\| (\w+)", text.split("## 4. Activations", 1)[1].split("\n## ")[0], re.M)
    )
    assert set(KINDS) - ACTIVATION_KINDS - headed == set()
    assert ACTIVATION_KINDS - activations == set()
    assert activations - {"op"} - ACTIVATION_KINDS == set()


# -- summary text ----------------------------------------------------------------------


def _nodes_of_every_op() -> list[object]:
    """(input shape, checked node, its parameters) of every node of the every-op spec with
    a signature, and the summary text of the node."""
    text = _spec_constants("tests/codegen/test_numpy_codegen.py")["ALL_OPS"]
    program = netspec.load(text)
    cases = []
    for model, node in [(m, n) for m in program.models for n in m.nodes]:
        # The input's type as the spec would declare it: "int64[3, 5]" for embedding.
        shapes = {model.input.name: model.input.shape}
        shapes |= {node.name: node.output.shape for node in model.nodes}
        dtypes = {model.input.name: model.input.dtype}
        dtypes |= {node.name: node.output.dtype for node in model.nodes}
        params = [p for p in model.params if p.name in node.params]
        op = as_written(node.op, OPS[node.op.kind].ir, params)
        written = describe(op, OPS[node.op.kind].summary)
        # Merges need several tensors; hand-set values are summarised by their shape only.
        if (
            node.op.kind in LAYER_NAMES
            and not SIGNATURES[node.op.kind].tensors
            and "literal value" not in written
        ):
            source = node.inputs[0]
            # Indices only where the op wants them: a model may not end in integers.
            indices = OPS[node.op.kind].takes == "indices"
            declared = dtypes[source] if indices else ""
            cases.append(
                pytest.param(
                    declared + str(list(shapes[source])), written, node.op, params, id=written
                )
            )
    return cases


def _unnamed(params: list[ParamSpec]) -> list[tuple[object, ...]]:
    return [(p.attr, p.role, p.shape, p.init, p.regularize) for p in params]


@pytest.mark.parametrize(("shape", "written", "op", "params"), _nodes_of_every_op())
def test_the_summary_text_of_an_op_reads_back_as_the_same_op(
    shape: str, written: str, op: object, params: list[ParamSpec]
) -> None:
    """What summary writes, initialisation and penalties included, means the same op."""
    model = netspec.load(f"model m(x: {shape}) {{ {written} }}").model()
    (node,) = model.nodes
    assert node.op == op
    assert _unnamed(list(model.params)) == _unnamed(params)


def test_op_registry_module_names_no_framework() -> None:
    source = "\n".join(p.read_text("utf-8") for p in Path(table.__file__).parent.glob("*.py"))
    assert not re.search(r"^\s*(import|from)\s+(torch|jax)\b", source, re.M)
