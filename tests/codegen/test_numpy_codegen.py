"""The generated NumPy module, forward and hand-written backward, without netspec.

For every example spec but VGG-11, and a spec holding every op with awkward geometry and
names: generate the module, save float64 weights (netspec's initializer, then perturbed
so that zero biases, unit batchnorm scales and running statistics all matter) and a
batch, and run every module in ONE fresh ``python -I -S`` interpreter that sees
site-packages without their ``.pth`` hooks, so the editable netspec install is invisible
(the driver asserts that ``import netspec`` fails). There each module computes, in
float64: the eval output and its backward, the train output (dropout masks drawn from
the same seeded stream as the in-memory backend's) and its backward, the running
statistics after that call, and ``init(seed)`` in float64 and float32. The backward is
fed dL/doutput of a mean squared error, so the in-memory ``loss_and_grads`` (penalties
switched off) gives the expected gradients. Everything must match the in-memory NumPy
backend to 1e-10 (relative to the largest magnitude), ``init`` bit for bit.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import py_compile
import shutil
import site
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import netspec
from netspec.backends.numpy import BACKEND, nn
from netspec.codegen import context_for, generate
from netspec.initializers import initial_params
from netspec.ir import CheckedModel, Regularize
from netspec.ir.train import MeanSquaredError
from netspec.parity import random_inputs
from netspec.weights import save_weights

# Its tests share an expensive fixture, built once per session: one test worker runs them
# all (`pytest -n 2 --dist loadgroup`), so that it is built once.
pytestmark = pytest.mark.xdist_group("numpy_codegen")

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-10
SEED = 11
SKIPPED = {
    "vgg11": "VGG-11 has 133M weights: a 1 GB float64 weight file and several 7.6 GFLOP "
    "passes at 224 x 224 per backend are far beyond a unit test's budget",
}

# Every op kind; asymmetric, strided, dilated and grouped windows (overlapping pools,
# a "same" conv with stride 2, a padded 1x1-free conv, a transposed conv whose
# output_padding passes its stride under a larger dilation); batchnorm with and without
# affine on images and vectors; prelu shared and per channel; dropout p = 0; recurrent
# layers stacked (with dropout between them, drawn from the model's stream in training),
# bidirectional and without bias; a node nothing reads; a merge reading one tensor twice;
# every init scheme; and node names that are Python keywords, builtins, E741's `l` or the
# module's own imports.
ALL_OPS = """\
netspec 1

model all_ops(img: [4, 9, 8]) {
    np = img -> conv2d(6, [3, 2], [2, 1], padding = [[1, 2], [2, 0]], dilation = [1, 2],
                       groups = 2, init = orthogonal(gain = 1.5),
                       bias_init = uniform(-0.1, 0.1))
    p1 = np -> conv2d(6, 1, bias = false, init = lecun_normal)
            -> batchnorm(affine = false, momentum = 0.2) -> group_norm(3, eps = 0.01)
            -> prelu(per_channel = true, init = 0.1)
    p2 = np -> maxpool(3, stride = [2, 1], padding = [[1, 0], [0, 1]])
            -> conv2d(6, 1, init = he_uniform(mode = fan_out), bias_init = 0.05) -> elu(0.7)
            -> conv2d(6, [4, 2], padding = [[3, 3], [1, 3]], dilation = [1, 3], groups = 3)
    l = multiply(p1, p1, p2) -> leaky_relu(0.2)
    dict = add(l, np, np) -> batchnorm(eps = 0.001)
    q = dict -> avgpool([2, 3], stride = 1, padding = [[1, 0], [1, 1]]) -> gelu
             -> layer_norm(axes = 2, affine = false) -> softmax
             -> maxpool(2, stride = 1, padding = [[1, 0], [0, 1]]) -> concat(dict)
             -> log_softmax(axis = 0)
    unused = q -> dropout(0.4) -> global_avgpool
    r = dict -> conv2d_transpose(6, [3, 2], stride = [2, 1], padding = [1, 0],
                                 output_padding = [1, 2], dilation = [1, 3], groups = 2,
                                 init = xavier_uniform, bias_init = 0.1)
             -> upsample(3) -> adaptive_avgpool([4, 5]) -> upsample([2, 3], mode = bilinear)
             -> slice(-1, 1, step = 3) -> global_avgpool -> reshape(2, 3) -> transpose(-1, 0)
             -> permute(1, 0) -> layer_norm -> softmax(axis = -1) -> reshape(6) -> silu -> tanh
             -> prelu -> mish -> selu -> hard_swish -> relu6 -> hard_sigmoid
    lambda = q -> conv2d(3, 3, padding = same, stride = 2, init = xavier_normal(gain = 0.5))
               -> avgpool(2, padding = 1) -> flatten -> dense(12, init = normal(0.1, 0.2))
               -> gelu(approximate = tanh) -> softplus(beta = 2, threshold = 0.5) -> dropout(0)
    t = lambda -> dense(18, bias = false, init = uniform) -> batchnorm -> step
    rec = np -> reshape(12, 20) -> gru(3, layers = 2, dropout = 0.5, return_sequences = true)
             -> lstm(2, bidirectional = true, init = xavier_uniform, regularize = l2(0.1))
    t2 = np -> reshape(24, 10) -> rnn(3, relu, layers = 2, bidirectional = true, bias = false)
    seq = np -> reshape(12, 20) -> conv1d(8, 3, stride = 2, padding = same, dilation = 2,
                                          groups = 4, init = xavier_uniform, activation = elu(0.5))
             -> maxpool1d(3, stride = 2, padding = [1, 0]) -> conv1d(4, 1, bias = false)
             -> avgpool1d(2, stride = 1, padding = 1) -> global_avgpool
    att = np -> reshape(12, 20) -> dense(6) -> positional_embedding(init = uniform)
             -> multi_head_attention(2, causal = true) -> multi_head_attention(3, bias = false)
             -> transpose(0, 1) -> global_avgpool
    c = concat(r, lambda, seq, att, rec, t2, axis = -1) -> dropout(0.3)
        -> dense(18, init = xavier_uniform) -> relu -> sigmoid -> identity
    multiply(c, t) -> add(c) -> dense(4, init = he_normal(mode = fan_out), bias = [1, 2, 3, 4])
        -> log_softmax
}

# Integer indices: the shape ops on them, then two embeddings (one with a padding row).
model index_ops(tokens: int64[3, 5]) {
    e = tokens -> transpose(0, 1) -> slice(0, 0, 4) -> embedding(11, 6, padding_idx = 2)
             -> flatten
    f = tokens -> permute(1, 0) -> reshape(15) -> embedding(11, 3, padding_idx = -1)
             -> flatten
    concat(e, f) -> dense(4)
}

# A standardised csv source gives the model a standardize node after its input.
train all_ops {
    data csv(path = "features.csv", target = "y")
    loss mse
    optimizer sgd(lr = 0.1)
}
"""

# What the clean interpreter runs; DRIVER_PATHS is replaced by the site folders.
DRIVER = """
    import importlib.util
    import json
    import sys

    config = json.load(open(sys.argv[1]))
    sys.path.extend(config["site"])
    try:
        import netspec  # noqa: F401
    except ImportError:
        pass
    else:
        sys.exit("import netspec succeeded in the clean interpreter: the test proves nothing")

    import numpy as np

    for job in config["jobs"]:
        spec = importlib.util.spec_from_file_location(job["module_name"], job["module"])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        data = np.load(job["data"])
        x, t = data["x"], data["t"]
        weights = module.load_netspec_weights(job["weights"])
        model = getattr(module, job["class"])(weights, dtype="float64", seed=job["seed"])
        out = {}
        for mode in ("eval", "train"):
            y = model.forward(x, train=mode == "train")
            grads, dx = model.backward((y - t) * (2.0 / y.size))
            out[f"{mode}::output"] = y
            if dx is not None:  # integer indices have no gradient
                out[f"{mode}::input"] = dx
            out.update({f"{mode}::grad::{name}": g for name, g in grads.items()})
        out.update({f"state::{name}": v for name, v in model.state.items()})
        for dtype in ("float64", "float32"):
            arrays = module.init(job["seed"], dtype)
            out.update({f"init::{dtype}::{name}": v for name, v in arrays.items()})
        np.savez(job["output"], **out)
    print("ran", len(config["jobs"]), "modules")
"""


@dataclass(frozen=True)
class Case:
    """One model of one spec: a file of specs/ or the ALL_OPS text."""

    id: str
    spec: str  # a path, or "ALL_OPS"
    model: str


def _cases() -> list[object]:
    cases: list[object] = []
    for path in sorted((ROOT / "specs").glob("*.net")):
        program = netspec.load(path)
        for model in program.models:
            many = len(program.models) > 1
            case = Case(f"{path.stem}/{model.name}" if many else path.stem, str(path), model.name)
            marks = [pytest.mark.skip(reason=SKIPPED[path.stem])] if path.stem in SKIPPED else []
            cases.append(pytest.param(case, id=case.id, marks=marks))
    cases.append(pytest.param(Case("all_ops", "ALL_OPS", "all_ops"), id="all_ops"))
    cases.append(pytest.param(Case("index_ops", "ALL_OPS", "index_ops"), id="index_ops"))
    return cases


CASES = _cases()
RUNNABLE: list[Case] = [p.values[0] for p in CASES if not p.marks]  # type: ignore[attr-defined]


def _source(case: Case) -> tuple[str, str]:
    """(spec text, file name to report) of a case."""
    if case.spec == "ALL_OPS":
        return ALL_OPS, "all_ops.net"
    return Path(case.spec).read_text(encoding="utf-8"), case.spec


def _without_penalties(model: CheckedModel) -> CheckedModel:
    """The model with its l1 / l2 penalties off: the generated backward has none."""
    params = tuple(p.model_copy(update={"regularize": Regularize()}) for p in model.params)
    return model.model_copy(update={"params": params})


def _weights(model: CheckedModel, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """netspec's initial float64 weights, perturbed (zeros and ones would hide mistakes),
    with running statistics away from 0 and 1."""
    values = {
        name: value + 0.1 * rng.normal(size=value.shape)
        for name, value in initial_params(model, SEED, "float64").items()
    }
    for state in model.state:
        values[state.name] = (
            rng.normal(0.0, 0.5, size=state.shape)
            if state.attr == "running_mean"
            else rng.uniform(0.5, 2.0, size=state.shape)
        )
    return values


def clean_site_paths() -> list[str]:
    """Site-packages folders, to add to a ``python -S`` interpreter's path: the frameworks
    import from there, an editable netspec does not (its import hook is a .pth file)."""
    sites = [*site.getsitepackages(), site.getusersitepackages()]
    return [path for path in sites if Path(path).is_dir()]


def start_clean(driver: str, jobs: list[dict[str, object]], folder: Path) -> subprocess.Popen[str]:
    """Start ``driver`` on ``jobs`` in one fresh interpreter that cannot import netspec.

    It runs while the test computes the in-memory backend's answers: two processes on
    two cores. ``finish_clean`` waits for it.
    """
    script = folder / "driver.py"
    script.write_text(textwrap.dedent(driver))
    config = folder / "jobs.json"
    config.write_text(json.dumps({"site": clean_site_paths(), "jobs": jobs}))
    workdir = folder / "cwd"
    workdir.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(script), str(config)],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_clean(process: subprocess.Popen[str]) -> None:
    try:
        stdout, stderr = process.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, f"the clean interpreter failed:\n{stdout}\n{stderr}"


@dataclass
class Prepared:
    """One case written out for the driver: module, weights and data files, and a job."""

    case: Case
    program: netspec.Program
    model: CheckedModel
    weights: dict[str, np.ndarray]
    x: np.ndarray
    t: np.ndarray
    module: Path
    job: dict[str, object]


def prepare(backend: str, folder: Path) -> list[Prepared]:
    """Generate every runnable case's module for ``backend`` and save its inputs."""
    prepared = []
    for index, case in enumerate(RUNNABLE):
        text, file = _source(case)
        program = netspec.load(text)
        model = program.model(case.model)
        name = f"generated_{index}_{model.name}"
        module = folder / f"{name}.py"
        module.write_text(
            generate(program, backend, model=case.model, source_file=file, source_text=text)
        )
        rng = np.random.default_rng(index)
        weights = _weights(model, rng)
        save_weights(folder / f"{name}.safetensors", weights)
        batch = 1 if np.prod(model.input.shape) > 100_000 else 3
        x = random_inputs(model, rng, batch)
        t = rng.normal(size=(batch, *model.output_type.shape))
        np.savez(folder / f"{name}_data.npz", x=x, t=t)
        job: dict[str, object] = {
            "module": str(module),
            "module_name": name,
            "class": context_for(program, case.model).class_name,
            "weights": str(folder / f"{name}.safetensors"),
            "data": str(folder / f"{name}_data.npz"),
            "output": str(folder / f"{name}_out.npz"),
            "seed": SEED,
        }
        prepared.append(Prepared(case, program, model, weights, x, t, module, job))
    return prepared


def read_outputs(prepared: list[Prepared]) -> dict[str, dict[str, np.ndarray]]:
    got = {}
    for item in prepared:
        with np.load(str(item.job["output"])) as data:
            got[item.case.id] = {key: data[key] for key in data.files}
    return got


@dataclass
class Run:
    files: dict[str, Path]
    got: dict[str, dict[str, np.ndarray]]
    expected: dict[str, dict[str, np.ndarray]]


def _expected(
    model: CheckedModel, weights: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray
) -> dict[str, np.ndarray]:
    """The in-memory NumPy backend's answers to what the driver computes."""
    compiled = BACKEND.compile(
        _without_penalties(model), dtype="float64", seed=SEED, params=weights
    )
    loss = MeanSquaredError()
    out: dict[str, np.ndarray] = {"eval::output": compiled.forward(x)}
    # Integer indices have no gradient: the input's is compared for float inputs only.
    floats = model.input.dtype.startswith("float")
    _, grads = compiled.loss_and_grads(x, t, loss, train=False, input_grad=floats)
    if floats:
        out["eval::input"] = grads.pop(model.input.name)
    out.update({f"eval::grad::{name}": g for name, g in grads.items()})
    step = compiled.backprop(x, t, loss, train=True, input_grad=floats)
    out["train::output"] = step.output
    grads = dict(step.grads)
    if floats:
        out["train::input"] = grads.pop(model.input.name)
    out.update({f"train::grad::{name}": g for name, g in grads.items()})
    out.update({f"state::{name}": v for name, v in compiled.state().items()})
    for dtype in ("float64", "float32"):
        arrays = initial_params(model, SEED, dtype)
        out.update({f"init::{dtype}::{name}": v for name, v in arrays.items()})
    return out


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("numpy_codegen")
    prepared = prepare("numpy", folder)
    process = start_clean(DRIVER, [item.job for item in prepared], folder)
    try:
        expected = {p.case.id: _expected(p.model, p.weights, p.x, p.t) for p in prepared}
    finally:
        finish_clean(process)
    files = {item.case.id: item.module for item in prepared}
    return Run(files, read_outputs(prepared), expected)


def assert_close(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    assert got.dtype == np.float64, f"{what}: dtype {got.dtype}, expected float64"
    if not expected.size:
        return
    scale = max(1.0, float(np.max(np.abs(expected))))
    error = float(np.max(np.abs(got - expected))) / scale
    assert error <= TOLERANCE, f"{what}: the generated module differs by {error:.3g} (relative)"


@pytest.mark.parametrize("case", CASES)
def test_forward_backward_and_state_match_in_memory_backend(case: Case, run: Run) -> None:
    got, expected = run.got[case.id], run.expected[case.id]
    keys = sorted(k for k in expected if not k.startswith("init::"))
    assert sorted(k for k in got if not k.startswith("init::")) == keys
    for key in keys:
        assert_close(got[key], expected[key], f"{case.id} {key}")


@pytest.mark.parametrize("case", CASES)
def test_init_reproduces_netspec_initial_weights_bit_for_bit(case: Case, run: Run) -> None:
    got, expected = run.got[case.id], run.expected[case.id]
    keys = [k for k in expected if k.startswith("init::")]
    assert [k for k in got if k.startswith("init::")] == keys  # same names, same order
    for key in keys:
        assert got[key].dtype == expected[key].dtype, key
        assert np.array_equal(got[key], expected[key]), f"{case.id} {key} differs"


def test_generated_files_compile_and_pass_ruff(run: Run) -> None:
    files = [str(path) for path in run.files.values()]
    for file in files:
        py_compile.compile(file, doraise=True)
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install ruff): only py_compile was checked")
    done = subprocess.run([ruff, "check", "--isolated", *files], capture_output=True, text=True)
    assert done.returncode == 0, f"ruff found problems in generated code:\n{done.stdout}"


def _top_level(source: str) -> tuple[set[str], set[str], set[str]]:
    """(functions defined at top level, names read anywhere, modules imported)."""
    tree = ast.parse(source)
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    imported = {
        alias.name.split(".")[0]
        for n in ast.walk(tree)
        if isinstance(n, ast.Import)
        for alias in n.names
    } | {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    return defined, read, imported


def test_modules_hold_only_the_kernels_they_use_and_import_only_numpy(run: Run) -> None:
    for case_id, path in run.files.items():
        source = path.read_text()
        defined, read, imported = _top_level(source)
        dead = defined - read - {"init", "load_netspec_weights"}
        assert not dead, f"{case_id}: generated functions nothing calls: {sorted(dead)}"
        assert imported <= {"numpy", "math", "safetensors"}, f"{case_id} imports {imported}"
    mlp = run.files["mlp"].read_text()
    assert "def conv2d(" not in mlp and "def erf(" not in mlp and "def dropout(" not in mlp
    everything = run.files["all_ops"].read_text()
    for kernel in (
        "def conv2d_backward(",
        "def maxpool_backward(",
        "def avgpool_backward(",
        "def erf(",
        "def batchnorm_backward(",
        "def dropout(",
        "def prelu_backward(",
        "def softplus_backward(",
    ):
        assert kernel in everything
    # The arithmetic is the in-memory backend's own, copied, not retyped.
    table = nn.LOWERINGS
    for fn in (
        nn.conv2d,
        nn.conv2d_backward,
        nn.batchnorm,
        table["gelu"].fn,
        table["prelu"].backward,
    ):
        source = inspect.getsource(fn)
        body = source.splitlines()[ast.parse(source).body[0].body[0].lineno - 1 :]  # type: ignore[attr-defined]
        assert "\n".join(body) in everything, fn.__name__


# -- the module's own checks, in process (the module never imports netspec) ------------


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_class_checks_its_inputs(run: Run, tmp_path: Path) -> None:
    module = _import(run.files["multilayer_net_extend"], "generated_checks")
    model = module.MultilayerNetExtend(seed=3, dtype="float64")
    with pytest.raises(RuntimeError, match="forward"):
        model.backward(np.zeros((2, 10)))
    with pytest.raises(ValueError, match=r"\(N, \*\(784,\)\)"):
        model.forward(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="real numbers"):
        model.forward(np.zeros((2, 784), dtype=bool))
    with pytest.raises(ValueError, match="more than one value per channel"):
        model.forward(np.zeros((1, 784)), train=True)
    model.forward(np.zeros((2, 784), dtype=np.uint8))
    with pytest.raises(ValueError, match="grad_output"):
        model.backward(np.zeros((2, 3)))
    weights = module.init(0, "float64")
    first, second = list(module.PARAM_SHAPES)[:2]
    del weights[first]
    weights[second] = np.zeros((3, 3))
    weights["extra"] = np.zeros(1)
    with pytest.raises(ValueError, match=f"missing {first}; unexpected extra; {second} has shape"):
        module.MultilayerNetExtend(weights)
    with pytest.raises(ValueError, match="float32 or float64"):
        module.MultilayerNetExtend(dtype="int32")
    # float32 end to end: results and gradients in the model's dtype.
    small = module.MultilayerNetExtend(dtype="float32")
    y = small.forward(np.ones((4, 784)), train=True)
    grads, dx = small.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_load_netspec_weights_needs_safetensors(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _import(run.files["linear_regression"], "generated_loader")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match="pip install safetensors"):
        module.load_netspec_weights(tmp_path / "missing.safetensors")


def test_its_tests_run_as_one_xdist_group(request: pytest.FixtureRequest) -> None:
    """Under `--dist loadgroup` the module's tests carry their group (so that one worker
    builds the shared fixture), which some pytest and pytest-xdist pairs lose."""
    main_args = getattr(request.config, "workerinput", {}).get("mainargv", [])
    if "loadgroup" not in " ".join(main_args):  # a test worker knows its main's options
        pytest.skip("the suite is not running on test workers with --dist loadgroup")
    assert request.node.nodeid.endswith("@numpy_codegen"), request.node.nodeid
