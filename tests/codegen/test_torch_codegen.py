"""The PyTorch generator, `netspec compile` and `netspec.compile`.

Generated modules are imported in-process here (from files in tmp_path) to compare
them with the in-memory torch backend in training mode too: outputs, running
statistics and gradients in float64. tests/codegen/test_generated.py runs them in an
interpreter without netspec.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.cli import EXIT_OK, EXIT_SPEC, EXIT_USAGE, main
from netspec.codegen import TARGETS, context_for, generate
from netspec.errors import NetspecError
from netspec.initializers import initial_params
from netspec.ir import Program
from netspec.parity import random_inputs
from netspec.weights import save_weights

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "specs" / "lenet5.net"
DIGITS = ROOT / "specs" / "digits.net"

# Every op with parameters or state, asymmetric padding, and no dropout, so that
# training mode is deterministic and comparable.
TRAINABLE = """\
netspec 1

block mixer {
    input x
    a = x -> conv2d(4, 3, stride = 2, padding = same, groups = 2)
          -> batchnorm(momentum = 0.2, eps = 1e-3) -> prelu(per_channel = true)
    b = x -> avgpool(3, stride = 2, padding = same) -> conv2d(4, 1, bias = false)
    c = x -> maxpool(3, stride = 2, padding = same) -> conv2d(4, 3, padding = 2, dilation = 2)
          -> leaky_relu(0.2)
    m = multiply(a, b, c)
    s = add(a, b, c)
    concat(m, s)
}

model trainable(x: [4, 8, 8]) {
    mixer -> group_norm(2) -> elu(0.7) -> gelu(approximate = tanh)
    conv2d_transpose(8, 2, stride = 2, regularize = l2(0.01)) -> reshape(8, 64)
    conv1d(8, 3, stride = 2, padding = same, dilation = 2, groups = 2) -> maxpool1d(2, stride = 1)
    avgpool1d(2, padding = 1) -> global_avgpool -> reshape(2, 4) -> layer_norm
    dense(6) -> positional_embedding -> multi_head_attention(3, causal = true)
    lstm(3, layers = 2, bidirectional = true, return_sequences = true)
    gru(4, return_sequences = true) -> rnn(4, relu, bias = false, return_sequences = true)
    log_softmax(axis = 1) -> flatten
    dense(12, bias = false) -> batchnorm(affine = false) -> gelu -> softplus(beta = 2)
    dense(6) -> prelu -> softmax -> dense(3)
}
"""

# The ops that take integer indices, trained the same way (with a padding row).
TRAINABLE_INDICES = """\
netspec 1

model trainable_indices(tokens: int64[6]) {
    embedding(9, 4, padding_idx = 0) -> layer_norm -> flatten -> dense(3)
}
"""

DEAD_BRANCH = """\
netspec 1
model dead(x: [6]) {
    unused = x -> dense(4) -> batchnorm -> relu
    x -> dense(5) -> relu
}
"""


def _module(source: str, folder: Path, name: str) -> ModuleType:
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generated(text_or_path: str | Path, folder: Path, name: str = "generated"):  # type: ignore[no-untyped-def]
    """(program, generated module, its class) for a spec text or path."""
    program = netspec.load(text_or_path)
    if isinstance(text_or_path, Path):
        source = generate(
            program, "torch", source_file=str(text_or_path), source_text=text_or_path.read_text()
        )
    else:
        source = generate(program, "torch", source_file=f"{name}.net", source_text=text_or_path)
    module = _module(source, folder, name)
    return program, module, getattr(module, context_for(program).class_name)


def _ruff(path: Path) -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install ruff)")
    done = subprocess.run([ruff, "check", "--isolated", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


# -- the generated text ----------------------------------------------------------------


def test_lenet5_reads_as_a_hand_written_module(tmp_path: Path) -> None:
    program = netspec.load(LENET)
    source = generate(
        program, "torch", source_file="specs/lenet5.net", source_text=LENET.read_text()
    )
    assert "class Lenet5(nn.Module):" in source
    assert (
        "        # lenet5.net:10 dense(120)\n"
        '        self.dense_1 = Tensors({"weight": ((120, 400), None), "bias": ((120,), 0.0)})\n'
    ) in source
    assert (
        "conv2d_1 = conv2d(x, weight=self.conv2d_1.weight, bias=self.conv2d_1.bias, "
        "pads=((2, 2), (2, 2)))"
    ) in source
    assert "relu_1 = F.relu(conv2d_1)  # lenet5.net:7 relu" in source
    assert "maxpool_1 = maxpool(relu_1, kernel=(2, 2), stride=(2, 2))" in source
    assert "flatten_1 = torch.flatten(maxpool_2, start_dim=1)  # lenet5.net:9 flatten" in source
    assert "def conv2d(" in source and "def maxpool(" in source  # carried, as in netspec
    assert source.rstrip().endswith("return module")
    # One line per node in forward, each with its spec reference.
    forward = source.split("def forward(self, x: torch.Tensor)")[-1].split("\n\n\n")[0]
    for node in program.model().nodes:
        assert f"    {node.name} = " in forward
    assert "import numpy" not in source and "netspec" not in source.split('"""')[2]
    assert "def batchnorm" not in source  # carried functions only when used
    path = tmp_path / "lenet5.py"
    path.write_text(source)
    _ruff(path)


def test_only_the_helpers_a_model_uses_are_emitted(tmp_path: Path) -> None:
    program = netspec.load("netspec 1\nmodel tiny(x: [3]) { dense(2) }")
    source = generate(program, "torch")
    assert "def batchnorm" not in source and "def conv2d" not in source
    assert "dense_1 = F.linear(x, weight=self.dense_1.weight, bias=self.dense_1.bias)" in source
    path = tmp_path / "tiny.py"
    path.write_text(source)
    _ruff(path)


def test_class_names_that_clash_with_the_files_own_names(tmp_path: Path) -> None:
    # A model named f would shadow `F`; one named tensors the holder class; nodes named
    # like a carried function would shadow it in forward.
    for spec, name in [
        ("netspec 1\nmodel f(x: [3]) { dense(2) -> relu }", "f_model"),
        ("netspec 1\nmodel tensors(x: [3]) { dense(2) -> batchnorm -> relu }", "holder_model"),
        ("netspec 1\nmodel m(dropout: [3]) { dense(2) -> relu -> dropout(0.5) }", "shadow"),
    ]:
        program, _, cls = _generated(spec, tmp_path, name)
        _ruff(tmp_path / f"{name}.py")
        values = initial_params(program.model(), 0, "float64")
        model = cls().double()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()})
        expected = netspec.compile(program, dtype="float64", params=values).eval()
        x = torch.randn(4, 3, dtype=torch.float64)
        assert torch.equal(model.eval()(x), expected(x))


def test_the_reserved_attribute_names_cover_this_torch() -> None:
    # A node named like an nn.Module attribute is kept in _modules[...]; a torch that
    # adds methods must not make attribute access shadow one of them.
    from netspec.codegen.torch import _LAYER_ATTRIBUTES, MODULE_ATTRIBUTES

    def public(obj: object) -> set[str]:
        return {n for n in set(dir(obj)) | set(vars(obj)) if not n.startswith("_")}

    assert public(torch.nn.Module()) <= MODULE_ATTRIBUTES
    # Every tensor a node can hold, in the holder the generated file carries.
    from netspec.backends.torch.nn import Tensors

    program = netspec.load(TRAINABLE)
    model = program.model()
    params = {spec.path: ((1,), 0.0) for spec in model.params}
    state = {item.attr: ((1,), 0.0) for item in model.state}
    assert {"weight", "bias", "running_mean", "running_var"} <= set(params) | set(state)
    # The generator reserves, beside these, each holder's own tensor names (a recurrent
    # layer's weight_ih_l0...), which a holder has as attributes.
    own = {name for name in set(params) | set(state) if name not in _LAYER_ATTRIBUTES}
    assert any(name.startswith("weight_ih_l") for name in own)
    assert public(Tensors(params, state)) <= MODULE_ATTRIBUTES | _LAYER_ATTRIBUTES | own


def test_non_finite_numbers_are_spelt_out() -> None:
    # As in the NumPy and JAX generators (netspec.codegen._source.literal): a value that
    # reads back as itself, never a bare ``inf`` name.
    program = netspec.load("netspec 1\nmodel m(x: [3]) { dense(2) -> leaky_relu(0.1) }")
    model = program.model()
    node = model.nodes[1]
    broken = node.model_copy(update={"op": node.op.model_copy(update={"negative_slope": np.inf})})
    program = program.model_copy(
        update={"models": (model.model_copy(update={"nodes": (model.nodes[0], broken)}),)}
    )
    assert 'leaky_relu(dense_1, negative_slope=float("inf"))' in generate(program, "torch")


# -- the generated module against the in-memory backend ------------------------------------


def test_state_dict_keys_are_the_ir_names(tmp_path: Path) -> None:
    for index, path in enumerate(sorted((ROOT / "specs").glob("*.net"))):
        if path.stem == "vgg11":
            continue  # 133M weights: PyTorch's default initialisation alone takes seconds
        program = netspec.load(path)
        for model in program.models:
            source = generate(program, "torch", model=model.name)
            module = _module(source, tmp_path, f"keys_{index}_{model.name}")
            built = getattr(module, context_for(program, model.name).class_name)()
            in_memory = netspec.compile(program, model=model.name)
            assert list(built.state_dict()) == list(in_memory.state_dict()), path.name
            names = {p.name for p in model.params} | {s.name for s in model.state}
            assert set(built.state_dict()) == names


@pytest.mark.parametrize("spec", ["TRAINABLE", "TRAINABLE_INDICES"])
def test_training_mode_matches_the_in_memory_backend(spec: str, tmp_path: Path) -> None:
    program, _, cls = _generated(globals()[spec], tmp_path, "trainable")
    _ruff(tmp_path / "trainable.py")
    values = initial_params(program.model(), 1, "float64")
    ours = cls().double()
    ours.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()}, strict=True)
    theirs = netspec.compile(program, dtype="float64", params=values)
    # Indices (the padding row among them) or normal values.
    x = torch.from_numpy(random_inputs(program.model(), np.random.default_rng(0), 5))
    for step in range(2):  # two steps: the second uses moved running statistics
        outputs = []
        for module in (ours, theirs):
            module.train()
            module.zero_grad()
            y = module(x)
            (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
            outputs.append(y.detach())
        torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-10, atol=1e-12)
        mine, reference = ours.state_dict(), theirs.state_dict()
        for name in reference:
            torch.testing.assert_close(
                mine[name], reference[name], rtol=1e-10, atol=1e-12, msg=f"step {step}: {name}"
            )
        grads = dict(theirs.named_parameters())
        for name, parameter in ours.named_parameters():
            torch.testing.assert_close(
                parameter.grad, grads[name].grad, rtol=1e-10, atol=1e-12, msg=f"gradient of {name}"
            )
    ours.eval()
    theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-10, atol=1e-12)


def test_an_unread_batchnorm_still_updates_its_statistics(tmp_path: Path) -> None:
    program, _, cls = _generated(DEAD_BRANCH, tmp_path, "dead")
    source = (tmp_path / "dead.py").read_text()
    assert "not computed" in source  # the relu after it is skipped
    _ruff(tmp_path / "dead.py")
    values = initial_params(program.model(), 0, "float64")
    ours = cls().double()
    ours.load_state_dict({k: torch.from_numpy(v) for k, v in values.items()})
    theirs = netspec.compile(program, dtype="float64", params=values)
    x = torch.randn(6, 6, dtype=torch.float64)
    torch.testing.assert_close(ours.train()(x), theirs.train()(x))
    assert torch.equal(
        ours.state_dict()["batchnorm_1.running_mean"],
        theirs.state_dict()["batchnorm_1.running_mean"],
    )
    assert not torch.equal(ours.state_dict()["batchnorm_1.running_var"], torch.ones(4))


def test_dropout_draws_from_torchs_global_generator(tmp_path: Path) -> None:
    # The dropout is the model's output, so what is measured is the generated module's
    # own dropout: the dropped fraction, the scaling of what is kept, and its masks.
    spec = "netspec 1\nmodel drop(x: [64]) { dense(512) -> dropout(0.25) }"
    program, _, cls = _generated(spec, tmp_path, "drop")
    model = cls().double()
    model.load_state_dict(
        {k: torch.from_numpy(v) for k, v in initial_params(program.model(), 0, "float64").items()}
    )
    x = torch.randn(64, 64, dtype=torch.float64)
    kept = model.eval()(x)  # eval: dropout is the identity
    assert bool((kept != 0).all())
    model.train()
    torch.manual_seed(7)
    first = model(x)
    torch.manual_seed(7)
    assert torch.equal(model(x), first)  # the same global seed, the same masks
    torch.manual_seed(8)
    assert not torch.equal(model(x), first)  # another seed, other masks
    dropped = first == 0
    # 32768 units, each dropped with p = 0.25: the fraction is 0.25 give or take 0.0024.
    assert 0.23 < float(dropped.double().mean()) < 0.27
    # What is kept is scaled by 1 / (1 - p), as torch.nn.functional.dropout does.
    torch.testing.assert_close(first[~dropped], kept[~dropped] / 0.75, rtol=1e-12, atol=0)
    reference = netspec.compile(program, dtype="float64").eval()
    torch.testing.assert_close(model.eval()(x), reference(x), rtol=1e-12, atol=1e-12)


def test_load_netspec_weights_is_strict_and_explains_a_missing_safetensors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program, module, cls = _generated(LENET, tmp_path, "lenet")
    values = initial_params(program.model(), 3, "float32")
    save_weights(tmp_path / "w.safetensors", values)
    model = module.load_netspec_weights(cls(), str(tmp_path / "w.safetensors"))
    assert np.array_equal(model.conv2d_1.weight.detach().numpy(), values["conv2d_1.weight"])
    del values["dense_3.bias"]
    save_weights(tmp_path / "partial.safetensors", values)
    with pytest.raises(RuntimeError, match=r"dense_3\.bias"):
        module.load_netspec_weights(cls(), str(tmp_path / "partial.safetensors"))
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(ImportError, match="pip install safetensors"):
        module.load_netspec_weights(cls(), str(tmp_path / "w.safetensors"))


# -- netspec compile (the command) ----------------------------------------------------------


def test_compile_writes_the_module_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(LENET), "--backend", "torch"]) == EXIT_OK
    out, err = capsys.readouterr()
    program = netspec.load(LENET)
    assert out == generate(program, "torch", source_file=str(LENET), source_text=LENET.read_text())
    assert err == ""


def test_compile_writes_a_file_atomically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "lenet5.py"
    assert main(["compile", str(LENET), "--backend", "torch", "-o", str(target)]) == EXIT_OK
    assert "class Lenet5(nn.Module):" in target.read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["lenet5.py"]
    assert str(target) in capsys.readouterr().out


def test_ir_of_one_model(capsys: pytest.CaptureFixture[str]) -> None:
    gates = ROOT / "specs" / "logic_gates.net"
    assert main(["ir", str(gates), "--model", "xor_gate"]) == EXIT_OK
    program = Program.model_validate_json(capsys.readouterr().out)
    assert [m.name for m in program.models] == ["xor_gate"]
    assert program.model() == netspec.load(gates).model("xor_gate")
    assert all(key.startswith("xor_gate/") for key in program.source_map)


def test_compile_picks_a_model_of_several(capsys: pytest.CaptureFixture[str]) -> None:
    gates = str(ROOT / "specs" / "logic_gates.net")
    assert main(["compile", gates, "--backend", "torch", "--model", "nand_gate"]) == EXIT_OK
    assert "class NandGate(nn.Module):" in capsys.readouterr().out
    assert main(["compile", gates, "--backend", "torch"]) == EXIT_USAGE
    assert "choose one with --model NAME" in capsys.readouterr().err
    assert main(["compile", gates, "--backend", "torch", "--model", "nor_gate"]) == EXIT_USAGE
    assert "no model named 'nor_gate'" in capsys.readouterr().err


def test_compile_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.net"
    bad.write_text("model m(x: [3]) { densee(3) }")
    assert main(["compile", str(bad), "--backend", "torch"]) == EXIT_SPEC
    assert "E002" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["compile", str(LENET)])
    assert exit_.value.code == EXIT_USAGE
    assert "the following arguments are required: --backend" in capsys.readouterr().err
    assert main(["compile", str(tmp_path / "none.net"), "--backend", "torch"]) == EXIT_USAGE
    with pytest.raises(SystemExit) as exit_:
        main(["compile", str(LENET), "--backend", "tensorflow"])
    assert exit_.value.code == EXIT_USAGE
    assert not (tmp_path / "x.py").exists()


# -- netspec.compile (the library call) -----------------------------------------------------


def test_netspec_compile_gives_a_module_for_a_plain_training_loop() -> None:
    module = netspec.compile(LENET, seed=1)
    assert isinstance(module, torch.nn.Module)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (16,), generator=generator)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    losses = []
    module.train()
    for _ in range(20):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(x), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.usefixtures("torch_compile_imports")
def test_netspec_compile_module_works_with_torch_compile() -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("torch.compile's CPU backend (inductor) needs a C compiler; none is here")
    # A small model: inductor compiles C++ kernels per graph, some seconds each.
    module = netspec.compile("netspec 1\nmodel tiny(x: [8]) { dense(16) -> relu -> dense(4) }")
    x = torch.randn(4, 8)
    compiled = torch.compile(module)
    with torch.no_grad():
        torch.testing.assert_close(compiled.eval()(x), module(x), rtol=1e-6, atol=1e-6)
    # A backward pass through the compiled module too, as a training loop does.
    compiled.train()(x).square().mean().backward()
    assert module.dense_1.weight.grad is not None
    assert float(module.dense_1.weight.grad.abs().sum()) > 0


def test_netspec_compile_accepts_text_programs_models_and_weight_files(tmp_path: Path) -> None:
    program = netspec.load(LENET)
    values = initial_params(program.model(), 5, "float32")
    save_weights(tmp_path / "w.safetensors", values)
    from_file = netspec.compile(str(LENET), params=tmp_path / "w.safetensors")
    from_model = netspec.compile(program.model(), params=values)
    from_text = netspec.compile(LENET.read_text(), seed=5)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        expected = from_file.eval()(x)
        torch.testing.assert_close(from_model.eval()(x), expected)
        torch.testing.assert_close(from_text.eval()(x), expected)


def test_netspec_compile_errors_are_netspec_errors(tmp_path: Path) -> None:
    with pytest.raises(NetspecError, match="unknown backend 'tf'"):
        netspec.compile(LENET, "tf")
    with pytest.raises(NetspecError, match="no model named 'x'"):
        netspec.compile(LENET, model="x")
    with pytest.raises(NetspecError, match="E002"):
        netspec.compile("netspec 1\nmodel m(x: [3]) { densee(3) }")
    values = initial_params(netspec.load(LENET).model(), 0)
    values["dense_3.bias"] = np.zeros(3, dtype=np.float32)
    with pytest.raises(NetspecError, match=r"dense_3.bias: expected shape \(10,\)"):
        netspec.compile(LENET, params=values)
    with pytest.raises(NetspecError, match="no such weight file"):
        netspec.compile(LENET, params=tmp_path / "missing.safetensors")
    with pytest.raises(NetspecError, match="dtype"):
        netspec.compile(LENET, dtype="float16")  # type: ignore[arg-type]


def test_netspec_compile_numpy_gives_the_numpy_model() -> None:
    model = netspec.compile(DIGITS, "numpy", dtype="float64")
    assert model.ir.name == "digits" and model.dtype == "float64"
    assert model.forward(np.zeros((2, 64))).shape == (2, 10)


def test_netspec_compile_jax_gives_pure_init_and_apply() -> None:
    jax = pytest.importorskip("jax")
    spec = "netspec 1\nmodel m(x: [6]) { dense(8) -> batchnorm -> relu -> dropout -> dense(10) }"
    init, apply = netspec.compile(spec, "jax")
    program = netspec.load(spec)
    params = init(3)
    assert list(params) == list(initial_params(program.model(), 3))
    assert all(np.array_equal(params[k], v) for k, v in initial_params(program.model(), 3).items())
    again = init(jax.random.key(3))
    assert all(np.array_equal(params[k], again[k]) for k in params)
    x = np.random.default_rng(0).normal(size=(4, *program.model().input.shape)).astype("float32")
    expected = get_backend("jax").compile(program.model(), seed=3).forward(x)
    output, same = apply(params, x)
    np.testing.assert_allclose(np.asarray(output), expected, rtol=1e-6, atol=1e-6)
    assert all(np.array_equal(same[k], params[k]) for k in params)  # eval: nothing moves

    def loss(p):  # type: ignore[no-untyped-def]
        output, moved = apply(p, x, train=True, rng=jax.random.key(0))
        return (output**2).mean(), moved

    grads, moved = jax.grad(loss, has_aux=True)(params)
    assert set(grads) == set(params) == set(moved)
    state = [s.name for s in program.model().state]
    assert state and all(not np.array_equal(moved[n], params[n]) for n in state)
    output, _ = apply(params, x, train=True, rng=0)  # an int seed is a key too
    assert output.shape == (4, 10)
    with pytest.raises(NetspecError, match="missing"):
        apply({}, x)


def test_netspec_compile_jax_float64() -> None:
    pytest.importorskip("jax")
    init, apply = netspec.compile(LENET, "jax", dtype="float64")
    params = init(0)
    x = np.random.default_rng(1).normal(size=(2, 1, 28, 28))
    reference = netspec.compile(LENET, dtype="float64").eval()
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    got = np.asarray(apply(params, x)[0])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_generated_module_json_round_trip_of_cli_ir_is_loadable(tmp_path: Path) -> None:
    target = tmp_path / "ir.json"
    assert main(["ir", str(LENET), "-o", str(target)]) == EXIT_OK
    assert json.loads(target.read_text())["models"][0]["name"] == "lenet5"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ir.json"]


@pytest.mark.parametrize("backend", TARGETS)
def test_compile_command_imports_no_framework(backend: str) -> None:
    if importlib.util.find_spec(f"netspec.codegen.{backend}") is None:
        pytest.skip(f"netspec.codegen.{backend} (the {backend} generator) is not present")
    code = (
        "import sys, io, contextlib\n"
        "from netspec.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['compile', {str(LENET)!r}, '--backend', {backend!r}]) == 0\n"
        "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
