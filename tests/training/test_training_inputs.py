"""Training a model of two inputs end to end: from an npz file of arrays named after the
inputs and from a csv file with a column group per input, on every backend, with
checkpoints; and the errors of a source that cannot supply the inputs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.data import load_dataset
from netspec.errors import NetspecError
from netspec.ir.train import NpzData
from netspec.training.loop import fit
from tests.backends.conftest import backend_params
from tests.conftest import TWO_INPUT_SHAPES, TWO_INPUTS, two_input_samples
from tests.training.conftest import assert_same_weights

SAMPLES = 120
PIXELS = [f"p{i}" for i in range(36)]
EXTRA = [f"e{i}" for i in range(5)]
SECTION = """
train two_inputs {{
    data       {data}
    loss       softmax_cross_entropy
    optimizer  adam(lr = 0.01)
    batch_size 16
    epochs     3
    seed       2
}}
"""


def _columns(names: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


CSV_SOURCE = (
    'csv("data.csv", target = "label", standardize = false, validation = 0.2, inputs = '
    f"[image({_columns(PIXELS)}), extra({_columns(EXTRA)})])"
)
NPZ_SOURCE = 'npz("data.npz", validation = 0.2)'


def _write_npz(folder: Path, **replace: np.ndarray) -> Path:
    x, y = two_input_samples(SAMPLES, seed=5)
    arrays = {"image": x["image"], "extra": x["extra"], "y_train": y, **replace}
    np.savez(folder / "data.npz", **arrays)
    return folder / "data.npz"


def _write_csv(folder: Path, header: list[str] | None = None) -> Path:
    x, y = two_input_samples(SAMPLES, seed=5)
    path = folder / "data.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header or [*PIXELS, *EXTRA, "label"])
        for i in range(SAMPLES):
            # repr: every float64 reads back exactly, so the csv holds the npz's samples.
            cells = [*x["image"][i].ravel(), *x["extra"][i]]
            writer.writerow([repr(float(v)) for v in cells] + [int(y[i])])
    return path


def _spec(folder: Path, data: str) -> Path:
    path = folder / "two.net"
    path.write_text(TWO_INPUTS + SECTION.format(data=data))
    return path


def _train(spec: Path, backend: str, out: Path, **options: object) -> netspec.TrainResult:
    return netspec.train(
        str(spec), backend=backend, dtype="float64", out=str(out), progress=False, **options
    )


@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weights of the npz run on the NumPy backend: the reference."""
    folder = tmp_path_factory.mktemp("npz")
    _write_npz(folder)
    _train(_spec(folder, NPZ_SOURCE), "numpy", folder / "run")
    return folder / "run" / "weights.safetensors"


@pytest.mark.parametrize("backend", backend_params())
def test_trains_from_an_npz_of_arrays_named_after_the_inputs(
    backend: str, numpy_run: Path, tmp_path: Path
) -> None:
    _write_npz(tmp_path)
    result = _train(_spec(tmp_path, NPZ_SOURCE), backend, tmp_path / "run")
    assert len(result.history) == 3
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.final["val_accuracy"] is not None
    weights = netspec.weights.load_weights(tmp_path / "run" / "weights.safetensors")
    reference = netspec.weights.load_weights(numpy_run)
    for name, value in reference.items():
        # float64: three epochs of Adam, whose updates divide by small moments, keep the
        # backends' rounding differences within 1e-6 relative.
        np.testing.assert_allclose(weights[name], value, rtol=1e-6, atol=1e-9, err_msg=name)
    x, _ = two_input_samples(4, seed=9)
    assert result.model.forward(x).shape == (4, 3)


def test_a_csv_with_column_groups_trains_as_the_same_arrays_in_an_npz(
    numpy_run: Path, tmp_path: Path
) -> None:
    # The csv holds the npz's samples exactly: the same rows, splits and batches give
    # the same weights, bit for bit.
    _write_csv(tmp_path)
    _train(_spec(tmp_path, CSV_SOURCE), "numpy", tmp_path / "run")
    assert_same_weights(tmp_path / "run" / "weights.safetensors", numpy_run)


def test_a_run_of_two_inputs_resumes_from_its_checkpoint(numpy_run: Path, tmp_path: Path) -> None:
    _write_npz(tmp_path)
    spec = _spec(tmp_path, NPZ_SOURCE)
    program = netspec.load(spec)
    run = tmp_path / "run"
    fit(program, dtype="float64", out=run, progress=False, spec_path=str(spec), stop_after=1)
    fit(program, dtype="float64", resume=run, progress=False, spec_path=str(spec))
    assert_same_weights(tmp_path / "run" / "weights.safetensors", numpy_run)


def test_an_npz_with_test_arrays_per_input_gives_a_fixed_test_split(tmp_path: Path) -> None:
    x, y = two_input_samples(30, seed=1)
    path = _write_npz(tmp_path, image_test=x["image"], extra_test=x["extra"], y_test=y)
    dataset = load_dataset(
        NpzData(path=str(path)),
        input_shape=(1, 6, 6),
        inputs=TWO_INPUT_SHAPES,
        output_shape=(3,),
        loss_kind="softmax_cross_entropy",
        seed=0,
        dtype="float64",
    )
    assert dataset.test is not None and len(dataset.test) == 30
    assert isinstance(dataset.test.x, dict)
    np.testing.assert_array_equal(dataset.test.x["extra"], x["extra"])
    assert len(dataset.train) == SAMPLES
    assert dataset.input_shapes == TWO_INPUT_SHAPES


def _load(spec: Path) -> None:
    netspec.train(
        str(spec), backend="numpy", epochs=1, out=str(spec.parent / "run"), progress=False
    )


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"extra": None}, "data.npz: no array 'extra' (input extra)"),
        ({"extra": np.zeros((SAMPLES, 4))}, "input 'extra' gets samples of shape (4,)"),
        ({"extra": np.zeros((SAMPLES - 1, 5))}, "extra has 119 samples but y_train has 120"),
        ({"image_test": np.zeros((3, 1, 6, 6))}, "has 'image_test' but not 'extra_test'"),
    ],
    ids=["missing array", "wrong shape", "sample count", "partial test arrays"],
)
def test_an_npz_that_cannot_supply_the_inputs_is_an_error(
    tmp_path: Path, arrays: dict[str, np.ndarray | None], expected: str
) -> None:
    x, y = two_input_samples(SAMPLES, seed=5)
    given = {"image": x["image"], "extra": x["extra"], "y_train": y, **arrays}
    np.savez(tmp_path / "data.npz", **{k: v for k, v in given.items() if v is not None})
    with pytest.raises(NetspecError) as caught:
        _load(_spec(tmp_path, NPZ_SOURCE))
    assert "data.npz" in str(caught.value) and expected in str(caught.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ([*PIXELS, *EXTRA[:-1], "other", "label"], "input column 'e4' is not a column"),
        ([*PIXELS, *EXTRA, "label", "id"], "column 'id' is in no input group"),
    ],
    ids=["unknown column", "ungrouped column"],
)
def test_a_csv_that_cannot_supply_the_groups_is_an_error(
    tmp_path: Path, header: list[str], expected: str
) -> None:
    path = _write_csv(tmp_path, header[: len(PIXELS) + len(EXTRA) + 1])
    if "id" in header:
        rows = path.read_text().splitlines()
        path.write_text("\n".join([rows[0] + ",id", *(row + ",7" for row in rows[1:])]) + "\n")
    with pytest.raises(NetspecError) as caught:
        _load(_spec(tmp_path, CSV_SOURCE))
    assert "data.csv" in str(caught.value) and expected in str(caught.value)


def test_data_that_feeds_one_input_is_refused_for_a_model_of_two(tmp_path: Path) -> None:
    # --data (here data=) can replace the spec's source after netspec check has run.
    _write_npz(tmp_path)
    with pytest.raises(NetspecError, match="data xor makes one input array per sample"):
        netspec.train(
            str(_spec(tmp_path, NPZ_SOURCE)),
            backend="numpy",
            data="xor",
            out=str(tmp_path / "run"),
            progress=False,
        )


def test_a_model_of_one_input_reads_its_csv_column_group_in_its_order(tmp_path: Path) -> None:
    # The group lists the columns in another order than the file: the model gets them in
    # the group's order.
    path = tmp_path / "data.csv"
    path.write_text("b,a,label\n" + "".join(f"{i},{-i},{i % 2}\n" for i in range(10)))
    spec = tmp_path / "one.net"
    spec.write_text(
        "model one(x: [2]) { dense(2) }\n"
        "train one {\n"
        '    data csv("data.csv", target = "label", standardize = false, test = 0,'
        ' inputs = [x("a", "b")])\n'
        "    loss softmax_cross_entropy\n    optimizer sgd(lr = 0.1)\n}\n"
    )
    dataset = load_dataset(
        netspec.load(spec).train("one").data,  # type: ignore[union-attr]
        input_shape=(2,),
        inputs={"x": (2,)},
        output_shape=(2,),
        loss_kind="softmax_cross_entropy",
        seed=0,
        dtype="float64",
        base_dir=str(tmp_path),
    )
    assert isinstance(dataset.train.x, dict)
    np.testing.assert_array_equal(dataset.train.x["x"][:3], [[0, 0], [-1, 1], [-2, 2]])
    result = netspec.train(
        str(spec), backend="numpy", epochs=1, out=str(tmp_path / "run"), progress=False
    )
    assert len(result.history) == 1


def test_column_groups_given_at_run_time_refuse_standardize(tmp_path: Path) -> None:
    _write_csv(tmp_path)
    groups = CSV_SOURCE.replace("standardize = false, ", "")
    with pytest.raises(NetspecError, match="standardize = true is not supported"):
        netspec.train(
            str(_spec(tmp_path, NPZ_SOURCE)),
            backend="numpy",
            data=groups,
            out=str(tmp_path / "run"),
            progress=False,
        )
