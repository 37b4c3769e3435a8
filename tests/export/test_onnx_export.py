"""``netspec export --format onnx`` and ``netspec.export.onnx``: what the file holds
(names, spec lines, initializers, dtype, batch axis, metadata), its errors, and the
command line. Numerical equality for every spec is in test_onnx_equality.py."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.export.conftest import ONNX_MISSING, ORT_MISSING

onnx = pytest.importorskip("onnx", reason=ONNX_MISSING)
pytest.importorskip("onnxruntime", reason=ORT_MISSING)

import numpy as np  # noqa: E402

import netspec  # noqa: E402
from netspec.cli import main  # noqa: E402
from netspec.errors import NetspecError, UnknownNameError, UnsupportedOpError  # noqa: E402
from netspec.export import _onnx_ops  # noqa: E402
from netspec.export.onnx import (  # noqa: E402
    DEFAULT_OPSET,
    METADATA_PREFIX,
    export_onnx,
    preprocessing_path,
    to_onnx,
)
from netspec.initializers import initial_params  # noqa: E402
from netspec.ops import OPS  # noqa: E402
from netspec.weights import save_weights  # noqa: E402
from tests.export.conftest import ROOT, batch, feeds, session, trained_looking  # noqa: E402

LENET = ROOT / "specs" / "lenet5.net"

NORMED = """\
netspec 1

model normed(x: [4, 3]) {
    dense(5) -> layer_norm -> relu
    flatten -> dense(2)
}
"""


def test_the_lowering_table_has_every_op_kind_of_the_registry() -> None:
    assert set(_onnx_ops.LOWERINGS) == set(OPS)


def test_the_export_doc_lists_the_lowering_of_every_op_kind() -> None:
    text = (ROOT / "docs" / "export.md").read_text(encoding="utf-8")
    table = text[text.index("## How each op becomes ONNX") :]
    listed = {
        kind.strip()
        for line in table.splitlines()
        if line.startswith("| ") and not line.startswith("| op ")
        for kind in line.split("|")[1].split(",")
    }
    assert set(OPS) - listed == set()


def test_the_file_has_the_oldest_ir_version_its_opset_allows() -> None:
    assert to_onnx(LENET).ir_version == 8
    assert to_onnx(LENET, opset=21).ir_version == 10


def test_names_are_the_ir_names_and_nodes_carry_their_spec_line() -> None:
    program = netspec.load(LENET)
    model = program.model()
    proto = to_onnx(program)
    graph = proto.graph
    assert [i.name for i in graph.input] == ["x"]
    assert [o.name for o in graph.output] == [model.output]
    assert {t.name for t in graph.initializer} == {p.name for p in model.params}
    outputs = {out: node for node in graph.node for out in node.output}
    for node in model.nodes:
        assert node.name in outputs, node.name
        assert outputs[node.name].name == node.name
    conv = outputs["conv2d_1"]
    assert conv.op_type == "Conv"
    assert conv.doc_string == f"{LENET}:7:5 conv2d(6, 5, padding = 2)"
    assert outputs["dense_3"].doc_string == f"{LENET}:12:5 dense(10)"
    assert all(node.doc_string for node in graph.node)


def test_a_model_of_several_inputs_has_a_graph_input_for_each() -> None:
    from tests.export.test_onnx_equality import TWO_INPUTS

    model = netspec.load(TWO_INPUTS).model()
    proto = to_onnx(TWO_INPUTS, dynamic_batch=True)
    dims = {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
        for i in proto.graph.input
    }
    assert dims == {"image": ["batch", 1, 12, 12], "extra": ["batch", 4]}
    given = feeds(model, 5, "float32")
    got = session(proto).run(None, given)[0]
    want = netspec.compile(TWO_INPUTS, "numpy").forward(given)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_weights_become_initializers_under_their_names() -> None:
    model = netspec.load(LENET).model()
    weights = trained_looking(model, "float32")
    proto = to_onnx(LENET, weights=weights)
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for name, value in weights.items():
        np.testing.assert_array_equal(stored[name], value)


def test_inference_form_has_no_dropout_and_batchnorm_reads_its_running_statistics() -> None:
    spec = ROOT / "specs" / "multilayer_net_extend.net"
    model = netspec.load(spec).model()
    proto = to_onnx(spec)
    kinds = {node.op.kind for node in model.nodes}
    assert {"dropout", "batchnorm"} <= kinds
    assert "Dropout" not in {n.op_type for n in proto.graph.node}
    norms = [n for n in proto.graph.node if n.op_type == "BatchNormalization"]
    assert norms and all(n.input[3].endswith(".running_mean") for n in norms)
    assert all(n.input[4].endswith(".running_var") for n in norms)
    assert {n.name for n in model.state} <= {t.name for t in proto.graph.initializer}


def test_a_model_ending_in_dropout_names_its_output() -> None:
    text = "netspec 1\nmodel m(x: [3]) {\n    dense(2) -> dropout(0.5)\n}\n"
    proto = to_onnx(text)
    assert [o.name for o in proto.graph.output] == ["dropout_1"]
    model = netspec.load(text).model()
    x = batch(model, 2, "float32")
    got = session(proto).run(None, {"x": x[:1]})[0]
    want = netspec.compile(text, "numpy").forward(x[:1])
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_model_dtype_is_carried_through(dtype: str) -> None:
    proto = to_onnx(LENET, dtype=dtype)
    elem = {"float32": onnx.TensorProto.FLOAT, "float64": onnx.TensorProto.DOUBLE}[dtype]
    assert proto.graph.input[0].type.tensor_type.elem_type == elem
    assert proto.graph.output[0].type.tensor_type.elem_type == elem
    floats = [t for t in proto.graph.initializer if t.data_type != onnx.TensorProto.INT64]
    assert floats and all(t.data_type == elem for t in floats)


def test_a_fixed_batch_is_the_first_dimension() -> None:
    dims = to_onnx(LENET, batch=4).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [4, 1, 28, 28]
    dims = to_onnx(LENET).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_value == 1


@pytest.mark.parametrize("spec", ["lenet5", "mlp", "transformer_row_mnist"])
def test_dynamic_batch_is_symbolic_and_runs_at_batch_1_and_7(spec: str) -> None:
    path = ROOT / "specs" / f"{spec}.net"
    model = netspec.load(path).model()
    weights = trained_looking(model, "float32")
    proto = to_onnx(path, weights=weights, dynamic_batch=True)
    onnx.checker.check_model(proto, full_check=True)
    for value in (*proto.graph.input, *proto.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
    runner = session(proto)
    reference = netspec.compile(path, "numpy", params=weights)
    for size in (1, 7):
        x = batch(model, size, "float32", seed=size)
        got = runner.run(None, {model.input.name: x})[0]
        assert got.shape == (size, *model.output_type.shape)
        np.testing.assert_allclose(got, reference.forward(x), rtol=1e-5, atol=1e-5)


def test_exporting_imports_neither_torch_nor_jax(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from netspec.export.onnx import export_onnx\n"
        f"export_onnx({str(ROOT / 'specs' / 'resnet18.net')!r}, {str(tmp_path / 'r.onnx')!r})\n"
        "loaded = sorted(m for m in ('torch', 'jax') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.onnx").stat().st_size > 40_000_000  # 11.7M float32 weights


# -- errors --------------------------------------------------------------------------------


def test_an_op_below_its_minimum_opset_names_the_op_node_and_spec_line() -> None:
    with pytest.raises(UnsupportedOpError) as caught:
        to_onnx(NORMED, opset=16)
    message = str(caught.value)
    assert message.startswith("<string>:4:17: layer_norm (node 'layer_norm_1') needs ONNX opset 17")
    assert "opset 16" in message
    assert caught.value.help == ("export with --opset 17 or newer (the default is 18)",)
    assert to_onnx(NORMED, opset=17).opset_import[0].version == 17


def test_mish_needs_opset_18() -> None:
    text = "netspec 1\nmodel m(x: [3]) {\n    dense(2) -> mish\n}\n"
    with pytest.raises(UnsupportedOpError, match=r"<string>:3:17: mish \(node 'mish_1'\)"):
        to_onnx(text, opset=17)


def test_an_op_kind_without_a_lowering_is_a_located_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = dict(_onnx_ops.LOWERINGS)
    del table["relu"]
    monkeypatch.setattr("netspec.export.onnx.LOWERINGS", table)
    with pytest.raises(UnsupportedOpError) as caught:
        to_onnx(NORMED)
    assert str(caught.value) == (
        "<string>:4:31: op 'relu' (node 'relu_1') has no ONNX lowering in this netspec"
    )
    assert caught.value.kind == "relu"


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("batch", 0, "batch must be an integer >= 1, found 0"),
        ("batch", 2.0, "batch must be an integer >= 1, found 2.0 (float)"),
        ("dynamic_batch", "yes", "dynamic_batch must be True or False, found 'yes' (str)"),
        ("dtype", "float16", "dtype must be one of 'float32', 'float64', found 'float16'"),
        ("opset", "18", "opset must be an integer, found '18' (str)"),
        ("seed", -1, "seed must be an integer in [0, 2**64), found -1"),
        ("model", 3, "model must be"),
    ],
)
def test_bad_arguments_are_refused(keyword: str, value: object, message: str) -> None:
    with pytest.raises(NetspecError) as caught:
        to_onnx(LENET, **{keyword: value})
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("opset", [12, 99])
def test_an_opset_out_of_range_is_refused(opset: int) -> None:
    with pytest.raises(NetspecError, match=rf"ONNX opset {opset} is out of range: netspec writes"):
        to_onnx(LENET, opset=opset)


# Ops whose lowering changes with the opset (ReduceMean's axes became an input at 18).
OLD_OPSETS = """\
netspec 1

model low(x: [4, 6, 6]) {
    conv2d(4, 3, padding = same) -> group_norm(2) -> avgpool(2, padding = 1) -> upsample(2)
    global_avgpool -> reshape(2, 2) -> multi_head_attention(2) -> flatten -> dense(3)
    hard_swish -> softmax
}
"""


@pytest.mark.parametrize("opset", [13, 17, DEFAULT_OPSET, 21])
def test_opsets_from_13_give_the_same_values(opset: int) -> None:
    model = netspec.load(OLD_OPSETS).model()
    weights = trained_looking(model, "float32")
    proto = to_onnx(OLD_OPSETS, weights=weights, opset=opset, dynamic_batch=True)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == opset
    x = batch(model, 3, "float32")
    got = session(proto).run(None, {"x": x})[0]
    want = netspec.compile(OLD_OPSETS, "numpy", params=weights).forward(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _lenet_weights() -> dict[str, np.ndarray]:
    return initial_params(netspec.load(LENET).model(), 0, "float32")


def test_weights_missing_a_tensor_name_it(tmp_path: Path) -> None:
    weights = _lenet_weights()
    del weights["dense_2.bias"]
    save_weights(tmp_path / "w.safetensors", weights)
    with pytest.raises(NetspecError, match=r"missing: dense_2\.bias"):
        to_onnx(LENET, weights=tmp_path / "w.safetensors")


def test_weights_with_an_extra_tensor_name_it() -> None:
    weights = _lenet_weights() | {"dense_9.weight": np.zeros((2, 2), np.float32)}
    with pytest.raises(NetspecError, match=r"unexpected: dense_9\.weight"):
        to_onnx(LENET, weights=weights)


def test_weights_with_a_wrong_shape_name_it() -> None:
    weights = _lenet_weights() | {"conv2d_2.weight": np.zeros((16, 6, 3, 3), np.float32)}
    with pytest.raises(
        NetspecError, match=r"conv2d_2\.weight: expected shape \(16, 6, 5, 5\), found \(16, 6, 3"
    ):
        to_onnx(LENET, weights=weights)


def test_weights_without_running_statistics_are_refused() -> None:
    # A deployed model must not silently use batchnorm's starting statistics.
    spec = ROOT / "specs" / "multilayer_net_extend.net"
    model = netspec.load(spec).model()
    params = {p.name: v for p, v in zip(model.params, initial_params(model).values(), strict=False)}
    with pytest.raises(NetspecError, match=r"missing: .*running_mean"):
        to_onnx(spec, weights=params)


def test_an_unknown_model_name_is_refused() -> None:
    with pytest.raises(UnknownNameError, match="no model named 'nand'; the program has: and_gate"):
        to_onnx(ROOT / "specs" / "logic_gates.net", model="nand")


# -- writing ----------------------------------------------------------------------------------


def test_a_failed_export_leaves_the_old_file_and_no_partial_one(tmp_path: Path) -> None:
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    with pytest.raises(UnsupportedOpError):
        export_onnx(NORMED, target, opset=16)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]
    result = export_onnx(NORMED, target)
    assert result.preprocessing is None
    onnx.checker.check_model(onnx.load(target), full_check=True)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_the_command_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = netspec.load(LENET).model()
    weights = trained_looking(model, "float32")
    save_weights(tmp_path / "w.safetensors", weights)
    out = tmp_path / "lenet.onnx"
    code = main(["export", str(LENET), "--weights", str(tmp_path / "w.safetensors"),
                 "-o", str(out), "--dynamic-batch"])  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (ONNX opset 18, model lenet5")
    x = batch(model, 7, "float32")
    got = session(onnx.load(out)).run(None, {"x": x})[0]
    want = netspec.compile(LENET, "numpy", params=weights).forward(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert props[METADATA_PREFIX + "model"] == "lenet5"
    assert props[METADATA_PREFIX + "weights"] == "w.safetensors"
    digest = hashlib.sha256((tmp_path / "w.safetensors").read_bytes()).hexdigest()
    assert props[METADATA_PREFIX + "weights_sha256"] == digest


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--model", "nope"], 2, "no model named 'nope'"),
        (["--opset", "12"], 1, "ONNX opset 12 is out of range"),
        (["--weights", "missing.safetensors"], 1, "no such weight file: missing.safetensors"),
    ],
)
def test_the_command_reports_errors(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "m.onnx"
    assert main(["export", str(LENET), "-o", str(out), *argv]) == code
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_the_command_asks_for_a_model_of_several(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(ROOT / "specs" / "logic_gates.net")]) == 2
    assert "choose one with --model NAME" in capsys.readouterr().err


# -- preprocessing a run learnt --------------------------------------------------------------

CSV_SPEC = """\
netspec 1

model tab(x: [5]) {
    dense(8) -> relu
    dense(3)
}

train tab {
    data csv(path = "data.csv", target = "kind", categorical = ["colour"])
    loss softmax_cross_entropy
    optimizer adam(lr = 0.01)
    epochs 2
}
"""


def test_a_csv_run_exports_its_standardisation_and_encoding(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["a,b,colour,kind"]
    for i in range(90):
        a, b = rng.normal(100, 20), rng.normal(-50, 5)
        lines.append(f"{a!r},{b!r},{('blue', 'green', 'red')[i % 3]},{('x', 'y', 'z')[i % 3]}")
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    spec = tmp_path / "tab.net"
    spec.write_text(CSV_SPEC)
    run = netspec.train(spec, backend="numpy", out=str(tmp_path / "run"), progress=False)
    out = tmp_path / "tab.onnx"
    assert main(["export", str(spec), "--weights", str(run.run_dir), "-o", str(out)]) == 0
    proto = onnx.load(out)
    # The statistics are in the graph: its first node standardises the raw input.
    first = proto.graph.node[0]
    assert (first.op_type, first.input[0]) == ("Sub", "x")
    stored = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    assert stored["standardize.mean"][0] == pytest.approx(100, abs=10)
    # The rest of the encoding is in the metadata and beside the file.
    props = {p.key: p.value for p in proto.metadata_props}
    record = json.loads(props[METADATA_PREFIX + "preprocessing"])["csv_encoding"]
    assert record["features"] == ["a", "b", "colour"]
    assert record["categories"] == {"colour": ["blue", "green", "red"]}
    assert record["class_names"] == ["x", "y", "z"]
    sidecar = json.loads(preprocessing_path(out).read_text())
    assert sidecar == {"model": "tab", "csv_encoding": record}
    # Raw (encoded, unstandardised) rows give the trained model's answer.
    x = np.array([[110.0, -48.0, 0.0, 1.0, 0.0], [80.0, -55.0, 1.0, 0.0, 0.0]], np.float32)
    got = session(proto).run(None, {"x": x[:1]})[0]
    want = netspec.compile(spec, "numpy", params=run.run_dir).forward(x[:1])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_the_command_says_how_to_install_onnx_where_it_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a)
    )
    assert main(["export", str(LENET)]) == 1
    assert capsys.readouterr().err == (
        "netspec export: error: ONNX export needs the onnx package\n"
        "  help: pip install netspec[onnx]\n"
    )


def test_a_text_run_exports_its_vocabulary_and_integer_input(tmp_path: Path) -> None:
    from netspec.sampling import write_vocabulary

    spec = ROOT / "specs" / "char_bigram.net"
    model = netspec.load(spec).model()
    run = tmp_path / "run"
    weights = trained_looking(model, "float32")
    save_weights(run / "weights.safetensors", weights)
    characters = tuple(chr(c) for c in range(32, 32 + 61))
    write_vocabulary(run, characters, "data/tiny_shakespeare.txt")
    out = tmp_path / "bigram.onnx"
    result = export_onnx(spec, out, weights=run, dynamic_batch=True)
    assert result.preprocessing == tmp_path / "bigram.preprocessing.json"
    props = {p.key: p.value for p in result.model.metadata_props}
    assert json.loads(props[METADATA_PREFIX + "preprocessing"]) == {"vocabulary": list(characters)}
    sidecar = json.loads(result.preprocessing.read_text())
    assert sidecar == {"model": "char_bigram", "vocabulary": list(characters)}
    (given,) = result.model.graph.input
    assert given.type.tensor_type.elem_type == onnx.TensorProto.INT64
    x = feeds(model, 2, "float32")
    got = session(result.model).run(None, x)[0]
    want = netspec.compile(spec, "numpy", params=weights).forward(x)
    np.testing.assert_array_equal(got, want)  # a table look-up: exact
