"""The torch lowering table: complete over the IR's op kinds, read alike by the in-memory
module and the code generator, and traceable by torch.export."""

from __future__ import annotations

import inspect
import operator

import pytest

import netspec
from netspec.backends.torch import lowerings
from netspec.codegen import generate
from netspec.ops import ir_kinds

torch = pytest.importorskip("torch")

from netspec.backends.torch import nn as torch_nn  # noqa: E402  (needs torch)

# Every op kind of the IR union, derived from it rather than listed by hand.
KINDS = sorted(ir_kinds())

EVERY_OP = """\
netspec 1
model every(x: [4, 8, 8]) {
    a = x -> conv2d(4, 3, stride = 2, padding = same) -> batchnorm -> prelu(per_channel = true)
    b = x -> avgpool(3, stride = 2, padding = same) -> conv2d(4, 1) -> dropout(0.2)
    c = x -> maxpool(3, stride = 2, padding = same) -> identity -> step -> leaky_relu(0.2)
    m = multiply(a, b, c)
    s = add(a, b, c)
    concat(m, s) -> group_norm(4) -> layer_norm(axes = 2)
    sigmoid -> tanh -> relu -> silu -> elu(0.7) -> gelu -> softplus(beta = 2)
    mish -> selu -> relu6 -> hard_sigmoid -> hard_swish
    upsample(2, mode = bilinear) -> adaptive_avgpool([3, 5]) -> permute(0, 2, 1)
    transpose(1, -1) -> slice(-1, 1, none, 2) -> upsample(3)
    conv2d_transpose(8, 3, stride = 2, padding = 1, output_padding = 1, groups = 2)
    reshape(8, -1) -> conv1d(8, 3, padding = same) -> maxpool1d(2) -> avgpool1d(2, padding = 1)
    global_avgpool -> reshape(2, 4) -> dense(6) -> positional_embedding
    multi_head_attention(2, causal = true) -> softmax(axis = 1) -> log_softmax
    lstm(3, layers = 2, bidirectional = true, return_sequences = true) -> gru(4, layers = 2)
    reshape(2, 2) -> rnn(3, relu) -> flatten -> dense(3)
}
model indices(x: int64[3, 5]) {
    transpose(0, 1) -> slice(0, 1) -> embedding(7, 4, padding_idx = 1) -> flatten -> dense(2)
}
"""


def test_every_op_kind_has_a_torch_lowering() -> None:
    assert len(KINDS) > 20
    assert sorted(lowerings.CALLS) == KINDS
    assert sorted(torch_nn.LOWERINGS) == KINDS


def test_the_every_op_spec_covers_every_kind_but_standardize() -> None:
    # standardize has no word in the language: the checker adds it for csv sources.
    program = netspec.load(EVERY_OP)
    kinds = {node.op.kind for model in program.models for node in model.nodes}
    assert kinds == set(KINDS) - {"standardize"}


def test_framework_names_name_the_callables_the_module_calls() -> None:
    for kind, lowering in torch_nn.LOWERINGS.items():
        name, _ = lowerings.CALLS[kind]
        if lowering.framework_name is None:
            assert lowering.fn is getattr(torch_nn, name), kind
            assert lowering.fn.__module__ == torch_nn.__name__, kind
        else:
            assert lowering.framework_name == name, kind
            assert lowering.fn is operator.attrgetter(name.removeprefix("torch."))(torch), kind


def test_generated_code_carries_the_backends_functions_verbatim() -> None:
    program = netspec.load(EVERY_OP)
    source = "".join(generate(program, "torch", model=m.name) for m in program.models)
    carried = {lowerings.CALLS[kind][0] for kind in KINDS if "." not in lowerings.CALLS[kind][0]}
    carried -= {"standardize"}
    for name in [*sorted(carried), "Tensors", "_pool_input"]:
        assert inspect.getsource(getattr(torch_nn, name)) in source, name
    assert "def standardize" not in source  # only what the model uses


@pytest.mark.parametrize("model", ["every", "indices"])
def test_torch_export_traces_the_module(model: str) -> None:
    module = netspec.compile(EVERY_OP, model=model, dtype="float64").eval()
    if model == "every":
        x = torch.randn(3, 4, 8, 8, dtype=torch.float64)
    else:
        x = torch.randint(0, 7, (3, 3, 5))
    exported = torch.export.export(module, (x,))
    torch.testing.assert_close(exported.module()(x), module(x), rtol=1e-12, atol=1e-12)
