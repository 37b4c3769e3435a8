"""The generated JAX module against the in-memory JAX backend, without netspec.

Same cases and harness as ``test_numpy_codegen`` (every example spec but VGG-11, plus
the every-op spec), all modules in ONE fresh ``python -I -S`` interpreter that cannot
import netspec. There, inside ``jax.enable_x64(True)``, one jit-compiled function per
module runs ``apply`` in eval and in train mode, the latter with the key the in-memory
model uses for its first training call (``fold_in(key(seed), 0)``), so dropout masks
are the same; outputs and the new running statistics must match the in-memory backend
to 1e-10 in float64. For the models in ``GRADIENTS`` the driver also differentiates a
mean squared error through ``apply`` with ``jax.value_and_grad``, against the backend's
``loss_and_grads``. (Only those: XLA takes seconds to compile each gradient on a CPU,
and the every-op model covers every op's derivative.) ``init(seed)`` must equal
``netspec.initializers.initial_params`` bit for bit. ResNet-18 runs at batch 1 (its
forward-only programs compile in about 3 s of CPU time on each side).
"""

from __future__ import annotations

import importlib.util
import inspect
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from test_numpy_codegen import (
    CASES,
    SEED,
    Case,
    Run,
    _top_level,
    _without_penalties,
    assert_close,
    finish_clean,
    prepare,
    read_outputs,
    start_clean,
)

import netspec
from netspec.codegen import generate
from netspec.codegen._source import literal
from netspec.initializers import initial_params
from netspec.ir import CheckedModel
from netspec.ir.train import MeanSquaredError
from netspec.weights import save_weights

jax = pytest.importorskip("jax", reason="jax is not installed (pip install netspec[jax])")
from netspec.backends.jax import BACKEND, build_apply, precision_scope  # noqa: E402
from netspec.backends.jax.nn import LOWERINGS  # noqa: E402

# Its tests share an expensive fixture, built once per session: one test worker runs them
# all (`pytest -n 2 --dist loadgroup`), so that it is built once.
pytestmark = pytest.mark.xdist_group("jax_codegen")

# Models whose gradients are compared too (see the module docstring).
GRADIENTS = {"all_ops", "index_ops"}

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

    import jax
    import jax.numpy as jnp
    import numpy as np

    for job in config["jobs"]:
        spec = importlib.util.spec_from_file_location(job["module_name"], job["module"])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        data = np.load(job["data"])
        out = {}
        with jax.enable_x64(True):
            x, t = jnp.asarray(data["x"]), jnp.asarray(data["t"])
            weights = module.load_netspec_weights(job["weights"])
            params = {name: jnp.asarray(value) for name, value in weights.items()}
            # The key of the in-memory model's first training call.
            rng = jax.random.fold_in(jax.random.key(job["seed"]), 0)

            @jax.jit
            def both(params, x):
                return module.apply(params, x), module.apply(params, x, train=True, rng=rng)

            for mode, (y, new_params) in zip(("eval", "train"), both(params, x)):
                out[f"{mode}::output"] = np.asarray(y)
                for name in module.STATE_SHAPES:
                    out[f"{mode}::state::{name}"] = np.asarray(new_params[name])
            if job["gradients"]:

                def loss(params, x):
                    y, _ = module.apply(params, x, train=True, rng=rng)
                    return jnp.mean(jnp.square(y - t))

                if jnp.issubdtype(x.dtype, jnp.integer):  # indices: no gradient
                    grads = jax.jit(jax.grad(loss))(params, x)
                else:
                    grads, dx = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
                    out["train::input"] = np.asarray(dx)
                for name in module.PARAM_SHAPES:
                    out[f"train::grad::{name}"] = np.asarray(grads[name])
        for dtype in ("float64", "float32"):
            arrays = module.init(job["seed"], dtype)
            out.update({f"init::{dtype}::{name}": v for name, v in arrays.items()})
        np.savez(job["output"], **out)
    print("ran", len(config["jobs"]), "modules")
"""


def _expected(
    model: CheckedModel,
    weights: dict[str, np.ndarray],
    x: np.ndarray,
    t: np.ndarray,
    gradients: bool,
) -> dict[str, np.ndarray]:
    """The in-memory JAX backend's answers to what the driver computes."""
    plain = _without_penalties(model)
    params = {spec.name: weights[spec.name] for spec in model.params}
    state = {spec.name: weights[spec.name] for spec in model.state}
    apply = build_apply(plain)
    with precision_scope("float64"):
        rng = jax.random.fold_in(jax.random.key(SEED), 0)
        (y_eval, eval_state), (y_train, train_state) = jax.jit(
            lambda p, s, x: (apply(p, s, x, train=False), apply(p, s, x, train=True, rng=rng))
        )(params, state, x)
    out = {"eval::output": np.asarray(y_eval), "train::output": np.asarray(y_train)}
    for name in state:
        out[f"eval::state::{name}"] = np.asarray(eval_state[name])
        out[f"train::state::{name}"] = np.asarray(train_state[name])
    if gradients:
        # A fresh compiled model: this is its first training call (the driver's key).
        compiled = BACKEND.compile(plain, dtype="float64", seed=SEED, params=weights)
        floats = model.input.dtype.startswith("float")
        _, grads = compiled.loss_and_grads(x, t, MeanSquaredError(), input_grad=floats)
        if floats:
            out["train::input"] = grads.pop(model.input.name)
        out.update({f"train::grad::{name}": g for name, g in grads.items()})
    for dtype in ("float64", "float32"):
        arrays = initial_params(model, SEED, dtype)
        out.update({f"init::{dtype}::{name}": v for name, v in arrays.items()})
    return out


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("jax_codegen")
    prepared = prepare("jax", folder)
    for item in prepared:
        item.job["gradients"] = item.case.id in GRADIENTS
    process = start_clean(DRIVER, [item.job for item in prepared], folder)
    try:
        expected = {
            p.case.id: _expected(p.model, p.weights, p.x, p.t, p.case.id in GRADIENTS)
            for p in prepared
        }
    finally:
        finish_clean(process)
    files = {item.case.id: item.module for item in prepared}
    return Run(files, read_outputs(prepared), expected)


@pytest.mark.parametrize("case", CASES)
def test_apply_state_and_gradients_match_in_memory_backend(case: Case, run: Run) -> None:
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


def test_modules_hold_only_what_they_use_and_import_only_jax_and_numpy(run: Run) -> None:
    for case_id, path in run.files.items():
        defined, read, imported = _top_level(path.read_text())
        dead = defined - read - {"init", "load_netspec_weights", "apply"}
        assert not dead, f"{case_id}: generated functions nothing calls: {sorted(dead)}"
        assert imported <= {"jax", "numpy", "math", "safetensors"}, f"{case_id}: {imported}"
    everything = run.files["all_ops"].read_text()
    # Each node calls its lowering from nn.LOWERINGS: JAX's own callable by name, or a
    # function of nn whose source the module carries, exactly as written there.
    every = "".join(path.read_text() for path in run.files.values())
    for kind, lowering in LOWERINGS.items():
        if lowering.framework_name is not None:
            name = lowering.framework_name.replace("jax.numpy.", "jnp.").replace("jax.lax.", "lax.")
            assert f" = {name}(" in every, kind
        else:
            assert f" = {lowering.fn.__name__}(" in every, kind
            assert inspect.getsource(lowering.fn) in every, kind
    assert "groups=3" in everything  # static arguments written out
    assert "def batchnorm(" not in run.files["mlp"].read_text()  # only what the model uses


@pytest.mark.parametrize(
    ("value", "source"),
    [
        ((1, 2), "(1, 2)"),
        ((3,), "(3,)"),
        (((0, 1), (2, 3)), "((0, 1), (2, 3))"),
        (float("inf"), 'float("inf")'),
        (0.1, "0.1"),
        (True, "True"),
        ("tanh", '"tanh"'),
        (None, "None"),
    ],
)
def test_static_arguments_are_written_as_literals(value: object, source: str) -> None:
    assert literal(value) == source
    assert eval(source, {"float": float}) == value  # it reads back as the same value


def test_other_static_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot write list"):
        literal([1, 2])


# -- the module's own behaviour, in process (it never imports netspec) ------------------


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_apply_is_pure_checks_inputs_and_needs_a_key_for_dropout(run: Run) -> None:
    module = _import(run.files["multilayer_net_extend"], "generated_jax_checks")
    params = module.init(0)  # float32, as netspec's default
    x = np.random.default_rng(0).normal(size=(4, 784))
    with jax.enable_x64(False):
        y, same = module.apply(params, x)
        assert y.dtype == np.float32 and y.shape == (4, 10)
        assert all(same[name] is params[name] for name in params)  # eval: nothing moves
        with pytest.raises(ValueError, match="random key"):
            module.apply(params, x, train=True)
        apply = jax.jit(module.apply, static_argnames="train")
        key = jax.random.key(1)
        y1, new = apply(params, x, train=True, rng=key)
        y2, _ = apply(params, x, train=True, rng=key)
        np.testing.assert_array_equal(np.asarray(y1), np.asarray(y2))  # pure: same key, same
        name = next(iter(module.STATE_SHAPES))
        assert not np.allclose(np.asarray(new[name]), params[name])  # moved, params untouched
        assert np.array_equal(params[name], module.init(0)[name])
        with pytest.raises(ValueError, match="expects a batch of shape"):
            module.apply(params, np.zeros((2, 28, 28)))
        with pytest.raises(ValueError, match="more than one value per channel"):
            module.apply(params, x[:1], train=True, rng=key)
        # uint8 pixels are cast to the parameters' dtype, as netspec does.
        pixels, _ = module.apply(params, np.zeros((2, 784), dtype=np.uint8))
        assert pixels.dtype == np.float32


def test_load_netspec_weights_checks_names_and_needs_safetensors(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _import(run.files["linear_regression"], "generated_jax_loader")
    arrays = module.init(0)
    arrays["extra"] = np.zeros(2)
    save_weights(tmp_path / "w.safetensors", arrays)
    with pytest.raises(ValueError, match="unexpected extra"):
        module.load_netspec_weights(tmp_path / "w.safetensors")
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match="pip install safetensors"):
        module.load_netspec_weights(tmp_path / "w.safetensors")


SEQUENCE = """\
netspec 1
model sequence(x: [4, 11]) {
    conv1d(6, 3, stride = 2, padding = same, groups = 2) -> maxpool1d(2, stride = 1)
    avgpool1d(2, padding = 1) -> global_avgpool
}
"""


def test_a_carried_function_brings_the_functions_it_calls(tmp_path: Path) -> None:
    """conv1d runs conv2d over a unit height, so a model without conv2d carries it too,
    and the module computes what the backend does."""
    program = netspec.load(SEQUENCE)
    source = generate(program, "jax")
    assert "def conv2d(" in source and "conv2d(" not in source.split("def apply", 1)[1]
    path = tmp_path / "sequence.py"
    path.write_text(source)
    module = _import(path, "generated_jax_sequence")
    model = program.model()
    weights = initial_params(model, SEED, "float64")
    x = np.random.default_rng(0).normal(size=(3, 4, 11))
    with jax.enable_x64(True):
        y, _ = module.apply({name: jax.numpy.asarray(v) for name, v in weights.items()}, x)
    expected = BACKEND.compile(model, dtype="float64", params=weights).forward(x)
    np.testing.assert_allclose(np.asarray(y), expected, rtol=0, atol=1e-12)
