"""The public functions of ``netspec``: misuse raises NetspecError saying what was
expected, before any data is loaded; NumPy arrays train; losses may be given by name."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import netspec
from netspec.backend import get_backend
from netspec.cli import EXIT_SPEC, EXIT_USAGE, main
from netspec.ir.train import SoftmaxCrossEntropy
from tests.backends.conftest import backend_params

ROOT = Path(__file__).resolve().parents[1]
DIGITS = str(ROOT / "specs" / "digits.net")
TINY = """\
netspec 1
model m(x: [2]) {
    dense(2)
}
train m {
    data       xor
    loss       softmax_cross_entropy
    optimizer  sgd(lr = 0.1)
    epochs     1
}
"""


def _compile(**kwargs: Any) -> Callable[[], object]:
    spec = kwargs.pop("spec", TINY)
    backend = kwargs.pop("backend", "numpy")
    return lambda: netspec.compile(spec, backend, **kwargs)


def _train(*args: Any, **kwargs: Any) -> Callable[[], object]:
    spec = args[0] if args else TINY
    kwargs.setdefault("progress", False)
    return lambda: netspec.train(spec, **kwargs)


# (call, what the message must say); every case must raise NetspecError.
MISUSE: dict[str, tuple[Callable[[], object], str]] = {
    "load-int": (lambda: netspec.load(123), "netspec.load takes a path or spec text, found 123"),
    "load-none": (lambda: netspec.load(None), "found None (NoneType)"),  # type: ignore[arg-type]
    "load-max-params-0": (
        lambda: netspec.load(TINY, max_params=0),
        "max_params must be an integer >= 1, found 0",
    ),
    "load-max-params-str": (
        lambda: netspec.load(TINY, max_params="9"),  # type: ignore[arg-type]
        "max_params must be an integer >= 1, found '9' (str)",
    ),
    "analyze-int": (lambda: netspec.analyze(123), "source must be a string, found 123 (int)"),
    "analyze-file-none": (
        lambda: netspec.analyze(TINY, None),  # type: ignore[arg-type]
        "file must be a string, found None",
    ),
    "compile-spec-int": (_compile(spec=5), "takes a path, spec text, a Program or a CheckedModel"),
    "compile-backend-bogus": (_compile(backend="bogus"), "unknown backend 'bogus'"),
    "compile-backend-none": (_compile(backend=None), "unknown backend None"),
    "compile-dtype-float16": (
        _compile(dtype="float16"),
        "dtype must be one of 'float32', 'float64', found 'float16'",
    ),
    "compile-dtype-int": (_compile(dtype=64), "dtype must be one of"),
    "compile-device-none": (_compile(device=None), "device must be a string, found None"),
    "compile-device-none-jax": (
        _compile(backend="jax", device=None),
        "device must be a string, found None",
    ),
    "compile-seed-negative": (_compile(seed=-1), "seed must be an integer in [0, 2**64), found -1"),
    "compile-seed-too-large": (_compile(seed=2**64), "seed must be an integer in [0, 2**64)"),
    "compile-seed-float": (_compile(seed=1.5), "found 1.5 (float)"),
    "compile-seed-bool": (_compile(seed=True), "found True (bool)"),
    "compile-params-list": (_compile(params=[]), "params must be a dict of arrays by IR name"),
    "compile-params-int": (_compile(params=123), "found 123 (int)"),
    "compile-params-text-values": (
        _compile(params={"dense_1.weight": "abc", "dense_1.bias": np.zeros(2)}),
        "dense_1.weight: expected a float dtype",
    ),
    "compile-model-int": (_compile(model=3), "model must be a string or None, found 3"),
    "compile-model-unknown": (_compile(model="nope"), "no model named 'nope'"),
    "train-spec-int": (_train(5), "netspec.train takes a path, spec text or a Program"),
    "train-backend-bogus": (
        _train(backend="bogus"),
        "backend must be one of 'numpy', 'torch', 'jax', found 'bogus'",
    ),
    "train-epochs-fraction": (_train(epochs=1.5), "epochs must be an integer >= 1, found 1.5"),
    "train-epochs-bool": (_train(epochs=True), "epochs must be an integer >= 1, found True"),
    "train-epochs-zero": (_train(epochs=0), "epochs must be an integer >= 1, found 0"),
    "train-batch-size-text": (_train(batch_size="32"), "batch_size must be an integer >= 1"),
    "train-lr-zero": (_train(lr=0), "lr must be a finite number > 0, found 0"),
    "train-lr-nan": (_train(lr=math.nan), "lr must be a finite number > 0, found nan"),
    "train-lr-text": (_train(lr="0.1"), "lr must be a finite number > 0, found '0.1'"),
    "train-seed-negative": (_train(seed=-1), "seed must be an integer in [0, 2**64), found -1"),
    "train-seed-too-large": (_train(seed=2**64), "seed must be an integer in [0, 2**64)"),
    "train-dtype": (_train(dtype="float16"), "dtype must be one of 'float32', 'float64'"),
    "train-device-none": (_train(device=None), "device must be a string, found None"),
    "train-model-int": (_train(model=5), "model must be a string or None, found 5"),
    "train-model-unknown": (_train(model="nope"), "no model named 'nope'; the program has: m"),
    "train-progress-text": (_train(progress="yes"), "progress must be True or False"),
    "train-out-int": (_train(out=5), "out must be a path (str or os.PathLike) or None"),
    "train-unknown-keyword": (
        _train(epoch=1),
        "netspec.train() got unknown keyword argument(s): 'epoch'\n"
        "  help: did you mean 'epochs' instead of 'epoch'?",
    ),
    "train-data-int": (_train(data=5), "data= takes a data source"),
    "train-data-list": (_train(data=[1, 2]), "a tuple (x, y) of NumPy arrays"),
    "train-data-bad-split": (
        _train(data={"train": (np.zeros((4, 4)), np.zeros(4)), "val": None}),
        "data= dict has unknown split(s) 'val'",
    ),
    "train-data-lengths": (
        _train(data=(np.zeros((4, 4)), np.zeros(3))),
        "data train: x has 4 samples but y has 3",
    ),
    "train-data-text-arrays": (
        _train(data=(np.array(["a"] * 4), np.zeros(4))),
        "data train x has dtype <U1; expected numbers",
    ),
}


@pytest.fixture
def no_data_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arguments are checked before any data is read: loading fails the test."""

    def loaded(*_: object, **__: object) -> None:
        raise AssertionError("the data was loaded before the arguments were checked")

    monkeypatch.setattr("netspec.training.loop.load_dataset", loaded)


@pytest.mark.usefixtures("no_data_loading")
@pytest.mark.parametrize("case", list(MISUSE))
def test_misuse_raises_netspec_error_saying_what_was_expected(case: str) -> None:
    call, message = MISUSE[case]
    if "jax" in case:
        pytest.importorskip("jax", reason="the jax backend needs jax")
    with pytest.raises(netspec.NetspecError) as caught:
        call()
    assert message in str(caught.value)


def test_data_text_errors_speak_of_data_and_show_only_what_was_written() -> None:
    with pytest.raises(netspec.NetspecError) as caught:
        netspec.train(TINY, data="csv", progress=False)
    text = str(caught.value)
    assert text.startswith("data='csv' is not a data source")
    assert "--data" not in text and "let data" not in text
    assert re.search(
        r"data:1:1: error\[E005\]: csv needs the argument 'path'\n.*\n1 \| csv\n", text
    )


def test_numpy_arrays_train_a_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 64)).astype(np.float32)
    y = np.arange(120) % 10
    result = netspec.train(
        DIGITS, data=(x, y), epochs=2, progress=False, out=tmp_path / "tuple", seed=1
    )
    assert [row["epoch"] for row in result.history] == [1, 2]
    # digits.net holds out validation = 0.1 of the training samples, and has no test set.
    assert "val_loss" in result.history[-1] and "test_loss" not in result.history[-1]
    run = (tmp_path / "tuple" / "run.json").read_text()
    assert "arrays: inputs (64,) float32, 10 classes" in run
    split = netspec.train(
        DIGITS,
        data={"train": (x, y), "test": (x[:30], y[:30])},
        epochs=1,
        progress=False,
        out=tmp_path / "dict",
    )
    assert "test_loss" in split.history[-1]


def test_cli_seed_out_of_range_is_an_error_on_every_backend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for backend in ("numpy", "torch", "jax"):
        code = main(["train", DIGITS, "--backend", backend, "--seed", str(2**64)])
        assert code == EXIT_SPEC
        err = capsys.readouterr().err
        assert "--seed must be an integer in [0, 2**64), found 18446744073709551616" in err
        assert "Traceback" not in err


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_parity_seed_out_of_range_is_an_error(
    seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parity", DIGITS, "--backends", "numpy,numpy", "--seed", str(seed)]) == EXIT_USAGE
    assert f"seed must be an integer in [0, 2**64), found {seed}" in capsys.readouterr().err


def test_cli_reports_running_out_of_memory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def too_large(*_: object, **__: object) -> None:
        raise MemoryError

    monkeypatch.setattr("netspec.training.loop.get_backend", too_large)
    assert main(["train", DIGITS, "--epochs", "1"]) == EXIT_SPEC
    assert "netspec train: error: out of memory" in capsys.readouterr().err


@pytest.mark.parametrize("backend", backend_params())
def test_loss_and_grads_takes_a_loss_name(backend: str) -> None:
    model = netspec.load(TINY).model()
    compiled = get_backend(backend).compile(model, dtype="float64", seed=3)
    x = np.random.default_rng(1).normal(size=(5, 2))
    y = np.array([0, 1, 1, 0, 1])
    by_object = compiled.loss_and_grads(x, y, SoftmaxCrossEntropy())
    by_name = compiled.loss_and_grads(x, y, "softmax_cross_entropy")
    assert by_name[0] == by_object[0]
    for name, grad in by_object[1].items():
        np.testing.assert_array_equal(by_name[1][name], grad)
    with pytest.raises(
        netspec.NetspecError,
        match=r"unknown loss 'Softmax_CrossEntropy'.*\n  help: did you mean 'softmax_cross_entropy",
    ):
        compiled.loss_and_grads(x, y, "Softmax_CrossEntropy")
    with pytest.raises(netspec.NetspecError, match=r"unknown loss 3 \(int\): expected one of"):
        compiled.loss_and_grads(x, y, 3)


def test_train_result_names_only_the_training_loops_result() -> None:
    """``netspec.training.TrainResult`` is public API; no other class takes its name."""
    import ast

    package = Path(netspec.__file__).parent
    defined = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.ClassDef) and node.name == "TrainResult"
    ]
    assert defined == ["training/results.py"]
