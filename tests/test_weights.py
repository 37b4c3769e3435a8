"""Weight files and the one validation every way of loading weights goes through.

Files get the mode an ordinary write gives; a run directory is accepted wherever a
weight file is; FIFOs, devices and unreadable files are refused with what was expected;
and a bad array (integer, boolean, complex, text, non-finite, misshapen, misnamed) is
refused with the same message by every loader on every backend.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.cli import EXIT_OK, EXIT_SPEC, main
from netspec.errors import NetspecError, ShapeError
from netspec.initializers import initial_params
from netspec.ir import CheckedModel
from netspec.training import rundir
from netspec.weights import atomic_write_bytes, load_weights, save_weights
from tests.backends.conftest import AVAILABLE, backend_params

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "specs" / "digits.net")
SPEC = """\
netspec 1
model m(x: [4]) {
    dense(3) -> batchnorm -> relu
}
"""


@pytest.fixture(scope="module")
def model() -> CheckedModel:
    return netspec.load(SPEC).model()


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- file modes ---------------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_new_files_get_0666_less_the_umask(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        save_weights(tmp_path / "w.safetensors", {"a": np.zeros(2, np.float32)})
        rundir.write_json(tmp_path / "run.json", {"a": 1})
    for name in ("a.bin", "w.safetensors", "run.json"):
        assert mode_of(tmp_path / name) == 0o666 & ~mask, name


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o755])
def test_overwriting_keeps_the_files_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    path.chmod(mode)
    with umask(0o077):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    assert mode_of(path) == mode


def test_curves_plot_is_written_with_the_umask_mode(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="curves.png needs matplotlib")
    history = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}]
    with umask(0o022):
        assert rundir.plot_curves(tmp_path / "curves.png", history)
    assert mode_of(tmp_path / "curves.png") == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # no temporary left


# -- what a weight path may name ----------------------------------------------------------


def _run_dir(tmp_path: Path, model: CheckedModel) -> tuple[Path, dict[str, np.ndarray]]:
    run = tmp_path / "run"
    values = initial_params(model, seed=4, dtype="float32")
    save_weights(run / "weights.safetensors", values)
    return run, values


@pytest.mark.parametrize("backend", backend_params())
def test_a_run_directory_is_accepted_as_its_weights(
    backend: str, tmp_path: Path, model: CheckedModel
) -> None:
    run, values = _run_dir(tmp_path, model)
    compiled = get_backend(backend).compile(model, params=load_weights(run))
    from_file = netspec.compile(model, backend, params=run / "weights.safetensors")
    from_dir = netspec.compile(model, backend, params=run)
    if backend == "jax":
        from_file, from_dir = from_file[0](), from_dir[0]()
    else:
        from_file = from_file.state_dict() if backend == "torch" else from_file.parameters()
        from_dir = from_dir.state_dict() if backend == "torch" else from_dir.parameters()
    for name, value in compiled.parameters().items():
        np.testing.assert_array_equal(value, values[name])
        np.testing.assert_array_equal(np.asarray(from_dir[name]), np.asarray(from_file[name]))


def test_eval_takes_a_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = netspec.load(DIGITS)
    values = initial_params(program.model(), seed=0, dtype="float32")
    save_weights(tmp_path / "run" / "weights.safetensors", values)
    assert main(["eval", DIGITS, "--weights", str(tmp_path / "run")]) == EXIT_OK
    assert "test: loss" in capsys.readouterr().out


def test_a_directory_without_weights_says_what_it_holds(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NetspecError, match=r"(?s)holds no weights\.safetensors.*no checkpoint"):
        load_weights(empty)
    started = tmp_path / "started"
    (started / "checkpoints").mkdir(parents=True)
    (started / "checkpoints" / "state.json").write_text("{}")
    (started / "checkpoints" / "epoch-0002.weights.safetensors").write_bytes(b"")
    with pytest.raises(
        NetspecError,
        match=r"(?s)holds no weights\.safetensors.*has a checkpoint.*--resume .*"
        r"epoch-0002\.weights\.safetensors",
    ):
        netspec.compile(SPEC, "numpy", params=started)


def test_missing_file_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(NetspecError, match=r"(?s)no such weight file: .*nope.*run directory"):
        load_weights(tmp_path / "nope.safetensors")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="O_RDWR on a FIFO is Linux's")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    # Held open for writing (O_RDWR does not block on Linux), so that a loader which
    # opened the FIFO would fail instead of waiting forever for a writer.
    held = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        with pytest.raises(NetspecError, match=r"is a FIFO .*expected a regular"):
            load_weights(fifo)
    finally:
        os.close(held)


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null here")
def test_a_device_is_refused() -> None:
    with pytest.raises(NetspecError, match=r"/dev/null is a device"):
        netspec.compile(SPEC, "numpy", params="/dev/null")


def test_an_unreadable_file_is_not_called_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: CheckedModel
) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(path, initial_params(model))

    def denied(*_: object, **__: object) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    # Set up a permission error whoever runs the test (root reads any file).
    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(NetspecError, match=r"cannot read weight file .*: Permission denied"):
        load_weights(path)


def test_bfloat16_and_float16_files_load(tmp_path: Path, model: CheckedModel) -> None:
    torch = pytest.importorskip("torch", reason="torch writes the bfloat16 file")
    from safetensors.torch import save_file

    values = initial_params(model, seed=1, dtype="float32")
    tensors = {name: torch.from_numpy(value) for name, value in values.items()}
    save_file({n: t.to(torch.bfloat16) for n, t in tensors.items()}, tmp_path / "bf.safetensors")
    save_file({n: t.to(torch.float16) for n, t in tensors.items()}, tmp_path / "f16.safetensors")
    for name, dtype in (("bf", torch.bfloat16), ("f16", torch.float16)):
        compiled = netspec.compile(model, "numpy", params=tmp_path / f"{name}.safetensors")
        for key, value in compiled.parameters().items():
            want = tensors[key].to(dtype).to(torch.float32).numpy()
            np.testing.assert_array_equal(value, want)


def test_files_round_trip_every_dtype_a_checkpoint_holds(tmp_path: Path) -> None:
    # Optimizer state holds integer step counts (0-d) beside float buffers.
    arrays = {
        "step": np.array(7, np.int64),
        "empty": np.zeros((0, 3), np.float32),
        "w": np.arange(6, dtype=np.float64).reshape(2, 3),
        "mask": np.array([True, False]),
        "half": np.full(3, 0.5, np.float16),
    }
    save_weights(tmp_path / "a.safetensors", arrays)
    loaded = load_weights(tmp_path / "a.safetensors")
    assert set(loaded) == set(arrays)
    for name, value in arrays.items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape
        np.testing.assert_array_equal(loaded[name], value)


@pytest.mark.parametrize(
    ("cut", "why"),
    [
        (5, "5 bytes, too short for the header"),
        (40, "the header claims"),
        (-4, r"'\S+' lies outside the file"),
    ],
)
def test_a_damaged_file_is_named(tmp_path: Path, cut: int, why: str, model: CheckedModel) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(path, initial_params(model))
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(
        NetspecError, match=rf"w\.safetensors is not a readable safetensors file: {why}"
    ):
        load_weights(path)


# -- one validation, every loader ---------------------------------------------------------

FLOATS = "expected a float dtype (float16, bfloat16, float32, float64)"
CAST = "; cast it first, e.g. value.astype(np.float32)"
# name -> (the bad value of dense_1.weight, shape (3, 4), the problem line every loader
# reports; whether a safetensors file can hold it)
BAD: dict[str, tuple[object, str, bool]] = {
    "int64": (np.ones((3, 4), np.int64), f"{FLOATS}, found dtype int64{CAST}", True),
    "uint8": (np.ones((3, 4), np.uint8), f"{FLOATS}, found dtype uint8{CAST}", True),
    "bool": (np.ones((3, 4), bool), f"{FLOATS}, found dtype bool{CAST}", True),
    "nan": (
        np.where(np.eye(3, 4) > 0, np.nan, 0.5).astype(np.float32),
        "expected finite values, found 3 NaN and 0 inf (the first at index (0, 0))",
        True,
    ),
    "inf": (
        np.full((3, 4), -np.inf, np.float64),
        "expected finite values, found 0 NaN and 12 inf (the first at index (0, 0))",
        True,
    ),
    "shape": (np.ones((4, 3), np.float32), "expected shape (3, 4), found (4, 3)", True),
    "complex": (np.ones((3, 4), complex), f"{FLOATS}, found dtype complex128{CAST}", False),
    "text": ("abc", f"{FLOATS}, found dtype <U3{CAST}", False),
    "none": (None, f"{FLOATS}, found NoneType{CAST}", False),
    "object": (object(), f"{FLOATS}, found object{CAST}", False),
    "too-large": (
        np.full((3, 4), 1e300),
        "dense_1.weight: expected values that fit float32, found some too large",
        True,
    ),
}

Loader = Callable[[CheckedModel, str, dict[str, object], Path], object]


def _file(values: dict[str, object], folder: Path) -> Path:
    path = folder / "run" / "weights.safetensors"
    save_weights(path, values)  # type: ignore[arg-type]
    return path


LOADERS: dict[str, tuple[Loader, bool]] = {
    # name -> (load ``values`` into ``model`` on ``backend``, goes through a file)
    "compile-dict": (lambda m, b, v, _: netspec.compile(m, b, params=v), False),
    "compile-file": (lambda m, b, v, d: netspec.compile(m, b, params=_file(v, d)), True),
    "compile-run-dir": (lambda m, b, v, d: netspec.compile(m, b, params=_file(v, d).parent), True),
    "backend-compile": (lambda m, b, v, _: get_backend(b).compile(m, params=v), False),
    "set-parameters": (lambda m, b, v, _: get_backend(b).compile(m).set_parameters(v), False),
}


# A safetensors file holds only numeric arrays: the other cases go through dicts alone.
CASES = [
    (case, loader) for case in BAD for loader in LOADERS if BAD[case][2] or not LOADERS[loader][1]
]


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize(("case", "loader"), CASES)
def test_every_loader_refuses_a_bad_array_alike(
    case: str, loader: str, backend: str, tmp_path: Path, model: CheckedModel
) -> None:
    value, problem, _ = BAD[case]
    load, _ = LOADERS[loader]
    values: dict[str, object] = dict(initial_params(model, seed=0, dtype="float64"))
    values["dense_1.weight"] = value
    with pytest.raises(ShapeError) as caught:
        load(model, backend, values, tmp_path)
    line = problem if problem.startswith("dense_1.weight") else f"dense_1.weight: {problem}"
    assert f"do not fit model 'm':\n  {line}" in str(caught.value)


@pytest.mark.parametrize("backend", backend_params())
def test_names_are_checked_with_a_suggestion(backend: str, model: CheckedModel) -> None:
    values = dict(initial_params(model))
    values["dense_1.weights"] = values.pop("dense_1.weight")
    for load in (
        lambda: netspec.compile(model, backend, params=values),
        lambda: get_backend(backend).compile(model).set_parameters(values),
    ):
        with pytest.raises(
            NetspecError, match=r"unexpected: dense_1\.weights \(did you mean dense_1\.weight\?\)"
        ):
            load()
    with pytest.raises(NetspecError, match=r"missing: dense_1\.weight"):
        netspec.compile(model, backend, params=values)


@pytest.mark.parametrize("backend", backend_params())
def test_a_rejected_set_parameters_changes_nothing(backend: str, model: CheckedModel) -> None:
    compiled = get_backend(backend).compile(model, seed=2)
    before = compiled.parameters()
    with pytest.raises(ShapeError):
        compiled.set_parameters(
            {"dense_1.bias": np.full(3, 7.0), "dense_1.weight": np.full((3, 4), np.nan)}
        )
    for name, value in compiled.parameters().items():
        np.testing.assert_array_equal(value, before[name])


def test_eval_refuses_integer_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    program = netspec.load(DIGITS)
    values = initial_params(program.model(), seed=0, dtype="float32")
    values["dense_1.weight"] = (values["dense_1.weight"] * 100).astype(np.int64)
    save_weights(tmp_path / "w.safetensors", values)
    code = main(["eval", DIGITS, "--weights", str(tmp_path / "w.safetensors")])
    assert code == EXIT_SPEC
    assert "dense_1.weight: expected a float dtype" in capsys.readouterr().err


@pytest.mark.skipif("jax" not in AVAILABLE, reason="jax is not installed")
def test_jax_init_gives_the_checked_values_in_the_model_dtype(model: CheckedModel) -> None:
    values = initial_params(model, seed=5, dtype="float64")
    init, _ = netspec.compile(model, "jax", params=values)
    for name, value in init().items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(np.asarray(value), values[name].astype(np.float32))
