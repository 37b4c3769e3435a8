"""Generated modules against the in-memory backends, in an interpreter without netspec.

For every example spec (and two extra specs covering every op and awkward names) and
every target of ``netspec.codegen.TARGETS`` whose generator and framework are present:
generate the module, save float64 weights (netspec's initializer, running statistics
made non-trivial) and an input batch, then run all the modules of one backend in ONE
fresh ``python -I -S`` subprocess that sees site-packages without their ``.pth`` hooks,
so the editable netspec install is invisible (the driver asserts ``import netspec``
fails). Outputs must equal the in-memory backend's to 1e-10 in float64, eval mode.
A checkpoint written by a short ``netspec.train`` run loads the same way. Every
generated file passes ``ruff check --isolated`` and ``py_compile``. A last test feeds
the generator a spec whose names, strings and file path try to inject code.

VGG-11 is left out: its 133M float64 weights are a 1 GB file and two forward passes
per backend at 224 x 224, far beyond a unit test's budget (ResNet-18 at batch 1 runs).
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import os
import py_compile
import shutil
import site
import subprocess
import sys
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.codegen import TARGETS, generate
from netspec.initializers import initial_params
from netspec.ir import CheckedModel
from netspec.parity import random_inputs
from netspec.weights import load_weights, save_weights
from tests.conftest import MIXED_INPUTS, TWO_INPUTS

# Its tests share an expensive fixture, built once per session: one test worker runs them
# all (`pytest -n 2 --dist loadgroup`), so that it is built once.
pytestmark = pytest.mark.xdist_group("generated")

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-10
SKIPPED_SPECS = {
    "vgg11": "VGG-11 has 133M weights: a 1 GB float64 weight file and 2 x 7.6 GFLOP "
    "forward passes per backend are beyond a unit test's budget (ResNet-18 covers depth)",
}
FRAMEWORK = {"torch": "torch", "jax": "jax", "numpy": "numpy"}

# Every op kind, asymmetric "same" padding on conv and both pools (2-D and 1-D), groups,
# dilation, a strided transposed conv with output_padding, batchnorm on images and vectors
# (one without affine), prelu shared and per channel, bilinear (corners aligned) and
# nearest upsampling, a non-dividing adaptive pool.
ALL_OPS = """\
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
    concat(m, s, axis = 0)
}

model all_ops(x: [4, 8, 8]) {
    mixer -> group_norm(4) -> elu(0.7) -> gelu(approximate = tanh)
    upsample([2, 3], mode = bilinear, align_corners = true) -> adaptive_avgpool([5, 7])
    permute(0, 2, 1) -> transpose(-1, 1) -> slice(2, 1, none, 2) -> upsample(2)
    maxpool(2, padding = 1) -> layer_norm(axes = 3, affine = false)
    avgpool(2, stride = 1, padding = 1)
    conv2d_transpose(8, 3, stride = 2, padding = 1, output_padding = 1, groups = 2,
                     activation = relu) -> reshape(8, -1)
    conv1d(8, 3, padding = 1, groups = 2) -> maxpool1d(2, stride = 1, padding = [1, 0])
    avgpool1d(3, stride = 2, padding = same) -> group_norm(2, eps = 0.01) -> global_avgpool
    reshape(2, 4) -> layer_norm(eps = 1e-3) -> softmax(axis = 1) -> dense(6)
    positional_embedding -> multi_head_attention(2, causal = true, dropout = 0.2)
    multi_head_attention(3, bias = false)
    lstm(3, layers = 2, bidirectional = true, dropout = 0.2, return_sequences = true)
    gru(4, init = orthogonal, bias_init = zeros, return_sequences = true)
    rnn(4, relu, bias = false, return_sequences = true) -> flatten
    dense(12, bias = false) -> batchnorm(affine = false) -> gelu -> dropout(0.3)
    dense(6) -> relu -> silu -> tanh -> step -> softplus(beta = 2, threshold = 5) -> sigmoid
    identity -> prelu -> dense(6) -> mish -> selu -> hard_swish -> dense(6) -> relu6
    hard_sigmoid -> log_softmax(axis = -1) -> dense(3)
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

# Node names that are Python keywords, builtins, nn.Module methods or the generated
# file's own imports, inside and outside a block scope.
AWKWARD_NAMES = """\
netspec 1

block blk {
    input x
    weight = x -> dense(4)
    add(x, weight)
}

model self(x: [4]) {
    class = x -> dense(4) -> batchnorm
    train = class -> blk
    forward = train -> prelu(per_channel = true)
    F = forward -> dense(4)
    torch = F -> relu
    _modules = torch -> dense(4)
    np = _modules -> tanh
    add(np, x, class)
}
"""

EXTRA_SPECS = {
    "all_ops.net": ALL_OPS,
    "awkward_names.net": AWKWARD_NAMES,
    "two_inputs.net": TWO_INPUTS,
    "mixed_inputs.net": MIXED_INPUTS,
}
# The model of each extra spec (awkward_names' is called self).
EXTRA_MODELS = {"all_ops": "all_ops", "two_inputs": "two_inputs", "mixed_inputs": "mixed_inputs"}

# -- what each backend's generated module looks like from outside -------------------------
# ``run(module, job)`` builds the model of ``job["class"]``, loads ``job["weights"]``
# (a netspec safetensors file) in float64 and returns the eval-mode output for the
# batch in ``job["input"]``, using the generated module only (plus its framework). A
# model of several inputs has its batch in an .npz file, one array per input, passed to
# the generated code as keyword arguments.

DRIVERS = {
    "torch": """
        import torch

        def run(module, job):
            model = getattr(module, job["class"])().double()
            module.load_netspec_weights(model, job["weights"])
            model.eval()
            with torch.no_grad():
                x = load_batch(job)
                if isinstance(x, dict):
                    return model(**{k: torch.from_numpy(v) for k, v in x.items()}).numpy()
                return model(torch.from_numpy(x)).numpy()
    """,
    "jax": """
        import jax

        def run(module, job):
            weights = module.load_netspec_weights(job["weights"])
            with jax.enable_x64(True):
                params = {name: jax.numpy.asarray(value) for name, value in weights.items()}
                x = load_batch(job)
                if isinstance(x, dict):
                    output, _ = jax.jit(module.apply)(params, **x)
                else:
                    output, _ = jax.jit(module.apply)(params, x)
                return np.asarray(output)
    """,
    "numpy": """
        def run(module, job):
            weights = module.load_netspec_weights(job["weights"])
            model = getattr(module, job["class"])(weights, dtype="float64")
            x = load_batch(job)
            return model.forward(**x) if isinstance(x, dict) else model.forward(x)
    """,
}

DRIVER_MAIN = """
    import importlib.util
    import json
    import sys

    config = json.load(open(sys.argv[1]))
    # Site-packages without their .pth hooks: the frameworks are importable, an editable
    # netspec install is not (its import hook lives in a .pth file).
    sys.path.extend(config["site"])
    if importlib.util.find_spec("netspec") is not None:
        sys.exit("netspec is importable in the clean interpreter: the test proves nothing")
    try:
        import netspec  # noqa: F401
    except ImportError:
        pass
    else:
        sys.exit("import netspec succeeded in the clean interpreter")

    import numpy as np

    def load_batch(job):
        if not job["input"].endswith(".npz"):
            return np.load(job["input"])
        with np.load(job["input"]) as archive:
            return {name: archive[name] for name in archive.files}

    DRIVER

    for job in config["jobs"]:
        spec = importlib.util.spec_from_file_location(job["module_name"], job["module"])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        np.save(job["output"], np.asarray(run(module, job)))
    print("ran", len(config["jobs"]), "modules")
"""


@dataclass(frozen=True)
class Case:
    """One model of one spec file."""

    id: str
    path: Path
    model: str


def _example_cases() -> list[object]:
    cases: list[object] = []
    for path in sorted((ROOT / "specs").glob("*.net")):
        program = netspec.load(path)
        for model in program.models:
            case = Case(
                f"{path.stem}/{model.name}" if len(program.models) > 1 else path.stem,
                path,
                model.name,
            )
            marks = []
            if path.stem in SKIPPED_SPECS:
                marks.append(pytest.mark.skip(reason=SKIPPED_SPECS[path.stem]))
            cases.append(pytest.param(case, id=case.id, marks=marks))
    for name in EXTRA_SPECS:
        stem = name.removesuffix(".net")
        models = [EXTRA_MODELS.get(stem, "self")] + (["index_ops"] if stem == "all_ops" else [])
        for model in models:
            case_id = stem if model != "index_ops" else f"{stem}/{model}"
            cases.append(pytest.param(Case(case_id, Path(name), model), id=case_id))
    return cases


CASES = _example_cases()
RUNNABLE = [p.values[0] for p in CASES if not p.marks]  # type: ignore[attr-defined]


def _why_not(backend: str) -> str | None:
    """Why ``backend``'s generated code cannot be run here, or None when it can."""
    missing = _no_generator(backend)
    if missing is not None:
        return missing
    if importlib.util.find_spec(FRAMEWORK[backend]) is None:
        return f"{FRAMEWORK[backend]} is not installed (pip install netspec[{backend}])"
    if backend not in DRIVERS:
        return f"this harness has no driver for the {backend} generator's module API yet"
    return None


def _no_generator(backend: str) -> str | None:
    if importlib.util.find_spec(f"netspec.codegen.{backend}") is None:
        return f"netspec.codegen.{backend} (the {backend} generator) is not present"
    return None


def backend_params(why_not=_why_not) -> list[object]:  # type: ignore[no-untyped-def]
    """Every target, skipped with the reason ``why_not`` gives where it cannot run."""
    return [
        pytest.param(
            name,
            id=name,
            marks=pytest.mark.skipif(why_not(name) is not None, reason=why_not(name) or ""),
        )
        for name in TARGETS
    ]


def _spec_file(case: Case, folder: Path) -> Path:
    if case.path.is_absolute():
        return case.path
    path = folder / case.path.name
    path.write_text(EXTRA_SPECS[case.path.name])
    return path


def _weights(model: CheckedModel, seed: int) -> dict[str, np.ndarray]:
    """Initial float64 weights with running statistics away from 0 and 1, so that eval
    mode batchnorm really uses them."""
    values = initial_params(model, seed, "float64")
    rng = np.random.default_rng(seed + 1)
    for state in model.state:
        if state.attr == "running_mean":
            values[state.name] = rng.normal(0.0, 0.5, size=state.shape)
        else:
            values[state.name] = rng.uniform(0.5, 2.0, size=state.shape)
    return values


def _batch(model: CheckedModel, seed: int) -> np.ndarray | dict[str, np.ndarray]:
    """A batch of the model's one input, or of each of its inputs by name: normal values,
    or valid indices for an integer input."""
    rng = np.random.default_rng(seed)
    size = 1 if sum(int(np.prod(i.shape)) for i in model.inputs) > 100_000 else 3
    return random_inputs(model, rng, size)


def _module_file(
    folder: Path, backend: str, spec: Path, model: str, index: int
) -> tuple[Path, str]:
    program = netspec.load(spec)
    source = generate(
        program,
        backend,
        model=model,
        source_file=str(spec),
        source_text=spec.read_text(encoding="utf-8"),
    )
    module_name = f"gen_{backend}_{index}_{spec.stem}_{model}"
    path = folder / f"{module_name}.py"
    path.write_text(source, encoding="utf-8")
    return path, module_name


def _run_clean(backend: str, jobs: list[dict[str, str]], folder: Path) -> None:
    """Run ``jobs`` in one fresh interpreter that cannot import netspec."""
    driver = textwrap.dedent(DRIVER_MAIN).replace(
        "DRIVER", textwrap.dedent(DRIVERS[backend]).strip()
    )
    script = folder / f"driver_{backend}.py"
    script.write_text(driver)
    sites = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
    config = folder / f"jobs_{backend}.json"
    config.write_text(json.dumps({"site": sites, "jobs": jobs}))
    workdir = folder / "cwd"
    workdir.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(script), str(config)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"the clean interpreter failed:\n{done.stdout}\n{done.stderr}"


@dataclass
class BackendRun:
    """Everything one backend's batch produced: the generated files and the outputs of
    the generated and of the in-memory models, by case id."""

    files: dict[str, Path]
    generated: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weight file of a one-epoch float64 run of the digits demo on 300 samples."""
    out = tmp_path_factory.mktemp("run") / "digits"
    netspec.train(
        str(ROOT / "specs" / "digits.net"),
        backend="numpy",
        dtype="float64",
        epochs=1,
        data="digits(flatten = true, test = 0.2, validation = 0.1, limit = 300)",
        out=str(out),
        progress=False,
    )
    return out / "weights.safetensors"


@pytest.fixture(scope="session")
def backend_run(tmp_path_factory: pytest.TempPathFactory, trained: Path):  # type: ignore[no-untyped-def]
    """``backend_run(name)``: generate, run and compare every case of a backend, once."""
    runs: dict[str, BackendRun] = {}

    def run(backend: str) -> BackendRun:
        if backend in runs:
            return runs[backend]
        folder = tmp_path_factory.mktemp(f"generated_{backend}")
        compiler = get_backend(backend)
        result = BackendRun({}, {}, {})
        jobs: list[dict[str, str]] = []
        items = [(case, None) for case in RUNNABLE] + [
            (Case("digits_trained", ROOT / "specs" / "digits.net", "digits"), trained)
        ]
        for index, (case, weight_file) in enumerate(items):
            spec = _spec_file(case, folder)
            model = netspec.load(spec).model(case.model)
            module, module_name = _module_file(folder, backend, spec, case.model, index)
            if weight_file is None:
                values = _weights(model, seed=index)
                weight_file = folder / f"{module_name}.safetensors"
                save_weights(weight_file, values)
            else:
                values = load_weights(weight_file)
            x = _batch(model, seed=index)
            batch_file = folder / f"{module_name}_x.{'npz' if isinstance(x, dict) else 'npy'}"
            if isinstance(x, dict):
                np.savez(batch_file, **x)
            else:
                np.save(batch_file, x)
            result.files[case.id] = module
            result.expected[case.id] = compiler.compile(
                model, dtype="float64", params=values
            ).forward(x)
            jobs.append(
                {
                    "module": str(module),
                    "module_name": module_name,
                    "class": netspec.codegen.context_for(netspec.load(spec), case.model).class_name,
                    "weights": str(weight_file),
                    "input": str(batch_file),
                    "output": str(folder / f"{module_name}_y.npy"),
                }
            )
        _run_clean(backend, jobs, folder)
        for (case, _), job in zip(items, jobs, strict=True):
            result.generated[case.id] = np.load(job["output"])
        runs[backend] = result
        return result

    return run


def _assert_close(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    error = float(np.max(np.abs(got - expected))) / scale if expected.size else 0.0
    assert error <= TOLERANCE, f"{what}: generated output differs by {error:.3g} (relative)"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", backend_params())
def test_generated_module_matches_in_memory_backend(backend: str, case: Case, backend_run) -> None:  # type: ignore[no-untyped-def]
    run = backend_run(backend)
    _assert_close(run.generated[case.id], run.expected[case.id], f"{backend} {case.id}")


@pytest.mark.parametrize("backend", backend_params())
def test_generated_module_loads_a_trained_checkpoint(backend: str, backend_run) -> None:  # type: ignore[no-untyped-def]
    run = backend_run(backend)
    _assert_close(
        run.generated["digits_trained"], run.expected["digits_trained"], f"{backend} checkpoint"
    )


@pytest.mark.parametrize("backend", backend_params())
def test_generated_files_pass_ruff_and_compile(backend: str, backend_run) -> None:  # type: ignore[no-untyped-def]
    files = sorted(set(backend_run(backend).files.values()))
    for file in files:
        py_compile.compile(str(file), doraise=True)
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install ruff): py_compile alone was checked")
    done = subprocess.run(
        [ruff, "check", "--isolated", *map(str, files)], capture_output=True, text=True
    )
    assert done.returncode == 0, f"ruff found problems in generated {backend} code:\n{done.stdout}"


# -- injection ------------------------------------------------------------------------------

PAYLOAD = "__import__('os').system('touch PWNED')"
HOSTILE = f'''\
netspec 1
# """ + {PAYLOAD} + """
model __import__(x: [4]) {{
    exec = x -> dense(3, # """; {PAYLOAD}; """
                      bias = true)
    eval = exec -> relu
    dense(2)
}}

train __import__ {{
    data csv(path = "e\\"\\"\\"\\n{PAYLOAD.replace("'", "")}#.csv", target = "y\\"\\"\\"")
    loss mse
    optimizer sgd(lr = 0.1)
}}
'''


def _code_without_text(source: str) -> str:
    """The source with comments and docstrings removed: what Python would execute."""
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
        if t.type != tokenize.COMMENT
    ]
    tree = ast.parse(tokenize.untokenize(tokens))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body.pop(0)
    return ast.unparse(tree)


@pytest.mark.parametrize("backend", backend_params(_no_generator))
def test_hostile_names_strings_and_paths_stay_inert(backend: str, tmp_path: Path) -> None:
    folder = tmp_path / 'dir """\nimport os; os.system("touch PWNED") #'
    folder.mkdir()
    spec = folder / 'spec"""; __import__("os").system("touch PWNED") """.net'
    spec.write_text(HOSTILE)
    program = netspec.load(spec)
    assert program.model().name == "__import__"
    source = generate(program, backend, source_file=str(spec), source_text=HOSTILE)
    module = tmp_path / "hostile.py"
    module.write_text(source)
    py_compile.compile(str(module), doraise=True)
    code = _code_without_text(source)
    # The payload's text may appear in comments and docstrings only (made inert there);
    # the model's name may appear as a string (it is a valid identifier, not code).
    for word in ("PWNED", "system", "touch"):
        assert word not in code, f"{word!r} reached executable code:\n{code}"
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"__import__", "exec", "eval", "compile", "open"}, (
                f"the generated code calls {node.func.id}: {ast.unparse(node)}"
            )
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {FRAMEWORK[backend], "numpy", "safetensors", "math", "__future__"}
    ruff = shutil.which("ruff")
    if ruff is not None:
        done = subprocess.run(
            [ruff, "check", "--isolated", str(module)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout
    # Running the module (which defines the class) touches nothing.
    if importlib.util.find_spec(FRAMEWORK[backend]) is not None:
        done = subprocess.run(
            [sys.executable, "-c", f"import runpy; runpy.run_path({str(module)!r})"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    assert not (tmp_path / "PWNED").exists()
    assert not any(p.name == "PWNED" for p in tmp_path.rglob("*"))


# Characters that reorder or hide text in editors ("trojan source"): the bidirectional
# embeddings, overrides and isolates, the directional marks, and the Arabic letter mark.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@pytest.mark.parametrize("backend", backend_params(_no_generator))
def test_bidi_and_invisible_characters_are_escaped(backend: str, tmp_path: Path) -> None:
    text = (
        "netspec 1\nmodel m(x: [4]) {\n"
        f"    dense(3, # {BIDI} \u200b\x1b[2J note\n"
        "          bias = true) -> relu\n}\n"
    )
    # A file name that is not UTF-8 reaches the generator as lone surrogates.
    spec = tmp_path / ("spec" + BIDI[4] + os.fsdecode(b"\xff") + ".net")
    spec.write_text(text, encoding="utf-8")
    program = netspec.load(spec)
    source = generate(program, backend, source_file=str(spec), source_text=text)
    source.encode("utf-8")  # writable as a UTF-8 file
    for char in [*BIDI, "\u200b", "\x1b", "\udcff"]:
        assert char not in source, f"U+{ord(char):04X} reached the generated module"
    assert "\\u202e" in source and "note" in source  # escaped, and the comment kept
    module = tmp_path / "module.py"
    module.write_text(source, encoding="utf-8")
    py_compile.compile(str(module), doraise=True)
