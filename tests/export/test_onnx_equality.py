"""Exported ONNX models against the NumPy backend: every example spec and every op.

For each case: export with trained-looking weights (tests/export/conftest.py), pass
``onnx.checker.check_model(full_check=True)``, run onnxruntime and compare every node's
value (each IR node's tensor is made a graph output) with the NumPy backend's trace, to
1e-5 in float32 and 1e-10 in float64 (relative to the node's largest value, or absolute
below 1). onnxruntime has no float64 kernel for Conv, ConvTranspose, AveragePool, Erf,
RNN, LSTM or GRU; a float64 graph holding one is skipped, naming it, and ``DOUBLE_OPS``
covers every op that does run in float64 (all but the convolutions, average pooling,
exact gelu and the recurrent layers).

VGG-11 is left out: 133M weights and 7.6 GFLOP per sample, minutes per export and
forward pass on a small CPU; ResNet-18 covers depth at ImageNet size.
"""

from __future__ import annotations

import pytest

from tests.export.conftest import ONNX_MISSING, ORT_MISSING

onnx = pytest.importorskip("onnx", reason=ONNX_MISSING)
pytest.importorskip("onnxruntime", reason=ORT_MISSING)

import numpy as np  # noqa: E402

import netspec  # noqa: E402
from netspec.export.onnx import to_onnx  # noqa: E402
from netspec.ops import OPS  # noqa: E402
from tests.codegen.test_generated import ALL_OPS as ALL_OPS_BLOCKS  # noqa: E402
from tests.codegen.test_numpy_codegen import ALL_OPS  # noqa: E402
from tests.export.conftest import (  # noqa: E402
    ROOT,
    Case,
    feeds,
    float_only_kernel,
    session,
    trained_looking,
)

TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
SKIPPED = {
    "vgg11": "VGG-11 has 133M weights and 7.6 GFLOP per sample: minutes per export and "
    "forward pass on a small CPU (ResNet-18 covers depth at ImageNet size)",
}

# Every op onnxruntime runs in float64, on image, sequence and vector samples.
DOUBLE_OPS = """\
netspec 1

model double_ops(x: [4, 6, 6]) {
    a = x -> maxpool(2, stride = 1, padding = [[1, 0], [0, 1]]) -> batchnorm
          -> prelu(per_channel = true)
    b = x -> leaky_relu(0.2) -> elu(0.7) -> selu
    m = multiply(a, b, a)
    s = add(a, b)
    concat(m, s, axis = 0) -> upsample([2, 3], mode = bilinear, align_corners = true)
    adaptive_avgpool([5, 7]) -> upsample(2) -> upsample(2, mode = bilinear)
    group_norm(4, eps = 0.01)
    permute(0, 2, 1) -> transpose(-1, 1) -> slice(2, 1, none, 2)
    layer_norm(axes = 3, affine = false) -> reshape(8, -1)
    maxpool1d(2, stride = 1, padding = [1, 0]) -> group_norm(2) -> global_avgpool
    reshape(2, 4) -> layer_norm(eps = 1e-3) -> dense(6) -> positional_embedding
    multi_head_attention(2, causal = true) -> multi_head_attention(3, bias = false) -> flatten
    dense(12, bias = false) -> batchnorm(affine = false) -> gelu(approximate = tanh)
    dropout(0.3) -> dense(6) -> softplus(beta = 2, threshold = 5) -> silu -> mish -> relu6
    hard_swish -> identity -> prelu -> dense(6) -> tanh -> hard_sigmoid -> softmax
    dense(6) -> relu -> step -> sigmoid -> log_softmax(axis = -1) -> dense(3)
}
"""

# A model of two inputs: each is a graph input of its own name, in the spec's order.
TWO_INPUTS = """\
netspec 1

model two_branch(image: [1, 12, 12], extra: [4]) {
    a = image -> conv2d(4, 5) -> relu -> maxpool(2) -> flatten
    b = extra -> dense(16) -> relu
    concat(a, b) -> dense(8) -> relu
    dense(3)
}
"""

EVERY_OP = {"all_ops": ALL_OPS, "all_ops_blocks": ALL_OPS_BLOCKS, "double_ops": DOUBLE_OPS}
EXTRA = {**EVERY_OP, "two_inputs": TWO_INPUTS}


def _cases() -> list[object]:
    cases: list[object] = []
    for path in sorted((ROOT / "specs").glob("*.net")):
        program = netspec.load(path)
        for model in program.models:
            many = len(program.models) > 1
            case = Case(f"{path.stem}/{model.name}" if many else path.stem, str(path), model.name)
            marks = [pytest.mark.skip(reason=SKIPPED[path.stem])] if path.stem in SKIPPED else []
            cases.append(pytest.param(case, id=case.id, marks=marks))
    for name, text in EXTRA.items():
        models = netspec.load(text).models
        for model in models:
            case_id = f"{name}/{model.name}" if len(models) > 1 else name
            cases.append(pytest.param(Case(case_id, text, model.name), id=case_id))
    return cases


CASES = _cases()


def test_every_op_kind_is_in_an_every_op_spec() -> None:
    kinds = {
        node.op.kind
        for text in EVERY_OP.values()
        for model in netspec.load(text).models
        for node in model.nodes
    }
    assert set(OPS) - kinds == set()


def _compare(case: Case, dtype: str) -> None:
    program = case.program()
    model = program.model(case.model)
    weights = trained_looking(model, dtype)
    proto = to_onnx(program, model=model.name, weights=weights, dtype=dtype, dynamic_batch=True)
    onnx.checker.check_model(proto, full_check=True)
    size = 1 if sum(int(np.prod(i.shape)) for i in model.inputs) > 100_000 else 3
    x = feeds(model, size, dtype)
    expected = netspec.compile(program, "numpy", model=model.name, dtype=dtype, params=weights)
    trace = expected.trace(x)
    written = {out for node in proto.graph.node for out in node.output}
    names = [node.name for node in model.nodes if node.name in written]
    try:
        runner = session(proto, names)
        got = dict(zip(names, runner.run(names, x), strict=True))
    except Exception as error:  # onnxruntime raises its own classes, not exported types
        kernel = float_only_kernel(error) if dtype == "float64" else None
        if kernel is None:
            raise
        pytest.skip(f"onnxruntime has no float64 kernel for {kernel}")
    tolerance = TOLERANCE[dtype]
    for name in names:
        want = trace[name]
        assert got[name].dtype == want.dtype, name  # the float type, or an index type
        assert got[name].shape == want.shape, name
        scale = max(1.0, float(np.abs(want).max()))
        error = float(np.abs(got[name] - want).max()) / scale
        assert error <= tolerance, f"{case.id}: node {name} differs by {error:.3g} (scaled)"
    final = runner.run([model.output], x)[0]
    np.testing.assert_allclose(final, trace[model.output], rtol=0, atol=tolerance * scale)


@pytest.mark.parametrize("case", CASES)
def test_onnxruntime_equals_numpy_float32(case: Case) -> None:
    _compare(case, "float32")


@pytest.mark.parametrize("case", CASES)
def test_onnxruntime_equals_numpy_float64(case: Case) -> None:
    _compare(case, "float64")


def test_the_float64_spec_runs_every_op_of_it_in_float64() -> None:
    # Not skipped for a float-only kernel: DOUBLE_OPS holds none.
    program = netspec.load(DOUBLE_OPS)
    model = program.model()
    proto = to_onnx(program, weights=trained_looking(model, "float64"), dtype="float64")
    session(proto)
    assert {n.op_type for n in proto.graph.node}.isdisjoint({"Conv", "Erf", "AveragePool"})
