"""Training a model of an integer and a float input from an npz file of arrays named after
the inputs: the indices stay int64 on every backend, with the same weights; float data for
the integer input and an index past its embedding are errors naming the input, before any
step; and netspec check refuses a csv source for the integer input."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import numpy as np
import pytest

import netspec
from netspec import analyze
from netspec.data import load_dataset
from netspec.errors import NetspecError, ShapeError
from netspec.ir.train import NpzData
from tests.backends.conftest import backend_params
from tests.conftest import MIXED_INPUTS, mixed_input_samples

SAMPLES = 120
SHAPES = {"tokens": (6,), "extra": (4,)}
SECTION = """
train mixed_inputs {{
    data       {data}
    loss       softmax_cross_entropy
    optimizer  adam(lr = 0.01)
    batch_size 16
    epochs     3
    seed       2
}}
"""
NPZ_SOURCE = 'npz("data.npz", validation = 0.2)'


def _write_npz(folder: Path, **replace: np.ndarray) -> Path:
    x, y = mixed_input_samples(SAMPLES, seed=5)
    np.savez(folder / "data.npz", **{**x, "y_train": y, **replace})
    return folder / "data.npz"


def _spec(folder: Path, data: str = NPZ_SOURCE) -> Path:
    path = folder / "mixed.net"
    path.write_text(MIXED_INPUTS + SECTION.format(data=data))
    return path


def _train(spec: Path, backend: str, out: Path) -> netspec.TrainResult:
    return netspec.train(str(spec), backend=backend, dtype="float64", out=str(out), progress=False)


@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weights of the npz run on the NumPy backend: the reference."""
    folder = tmp_path_factory.mktemp("mixed")
    _write_npz(folder)
    _train(_spec(folder), "numpy", folder / "run")
    return folder / "run" / "weights.safetensors"


@pytest.mark.parametrize("backend", backend_params())
def test_trains_from_an_npz_of_indices_and_floats(
    backend: str, numpy_run: Path, tmp_path: Path
) -> None:
    _write_npz(tmp_path)
    result = _train(_spec(tmp_path), backend, tmp_path / "run")
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    weights = netspec.weights.load_weights(tmp_path / "run" / "weights.safetensors")
    reference = netspec.weights.load_weights(numpy_run)
    for name, value in reference.items():
        # float64: three epochs of Adam keep the backends within 1e-6 relative.
        np.testing.assert_allclose(weights[name], value, rtol=1e-6, atol=1e-9, err_msg=name)


def _dataset(path: Path) -> netspec.data.Dataset:
    return load_dataset(
        NpzData(path=str(path)),
        input_shape=(6,),
        inputs=SHAPES,
        input_dtypes={"tokens": "int64", "extra": "float64"},
        output_shape=(3,),
        loss_kind="softmax_cross_entropy",
        seed=0,
        dtype="float64",
    )


def test_the_integer_input_stays_int64_in_every_split(tmp_path: Path) -> None:
    x, y = mixed_input_samples(30, seed=1)
    # int32 in the file: indices are read as int64, as for a model of one input.
    tokens = x["tokens"].astype(np.int32)
    path = _write_npz(tmp_path, tokens_test=tokens, extra_test=x["extra"], y_test=y)
    dataset = _dataset(path)
    for split in (dataset.train, dataset.test):
        assert split is not None and isinstance(split.x, dict)
        assert split.x["tokens"].dtype == np.int64
        assert split.x["extra"].dtype == np.float64
    assert dataset.test is not None
    np.testing.assert_array_equal(dataset.test.x["tokens"], x["tokens"])


def test_float_data_for_the_integer_input_is_an_error_naming_it(tmp_path: Path) -> None:
    x, _ = mixed_input_samples(SAMPLES, seed=5)
    path = _write_npz(tmp_path, tokens=x["tokens"].astype(np.float64))
    with pytest.raises(NetspecError) as caught:
        _dataset(path)
    assert "gives float64 samples, but the model's input tokens is int64 [6]" in str(caught.value)
    with pytest.raises(NetspecError, match="input tokens is int64"):
        _train(_spec(tmp_path), "numpy", tmp_path / "run")
    assert not (tmp_path / "run" / "weights.safetensors").exists()


def test_an_index_past_the_embedding_names_input_sample_and_split(tmp_path: Path) -> None:
    x, y = mixed_input_samples(SAMPLES, seed=5)
    tokens = x["tokens"].copy()
    tokens[3, 2] = 10
    # Fixed test arrays and no validation: the train split is the file's rows in order.
    _write_npz(
        tmp_path, tokens=tokens, tokens_test=x["tokens"][:8], extra_test=x["extra"][:8],
        y_test=y[:8],
    )  # fmt: skip
    with pytest.raises(ShapeError) as caught:
        _train(_spec(tmp_path, 'npz("data.npz")'), "numpy", tmp_path / "run")
    assert (
        "input 'tokens' holds index 10 at sample 3 of the train split, but embedding "
        "'embedding_1' takes 0..9"
    ) in str(caught.value)
    assert not (tmp_path / "run" / "weights.safetensors").exists()


def test_check_refuses_a_csv_source_for_the_integer_input() -> None:
    text = MIXED_INPUTS + dedent(
        """
        train mixed_inputs {
            data csv("f.csv", target = "y", standardize = false, inputs = [tokens("t0", "t1", "t2", "t3", "t4", "t5"), extra("e0", "e1", "e2", "e3")])
            loss softmax_cross_entropy
            optimizer adam
        }
        """  # noqa: E501
    )
    found = [d for d in analyze(text, "m.net").diagnostics if d.code == "E031"]
    assert [d.message for d in found] == [
        "data csv makes floating-point samples, but the model's input 'tokens' is int64 [6], "
        "which takes integer indices"
    ]
