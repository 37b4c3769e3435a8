"""The common steps (limit, validation, one_hot, targets) and every check's message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netspec.data import load_dataset
from netspec.data._checks import check_finite
from netspec.errors import NetspecError
from netspec.ir.train import LinearData, NpzData, SpiralsData, XorData

CE = "softmax_cross_entropy"
BCE = "binary_cross_entropy"


def _spirals(**kw: object) -> dict:
    return {"input_shape": (2,), "output_shape": (3,), "loss_kind": CE, "seed": 0, **kw}


def _npz(tmp_path: Path, x: np.ndarray, y: np.ndarray, **arrays: np.ndarray) -> str:
    path = tmp_path / "d.npz"
    np.savez(path, x_train=x, y_train=y, **arrays)
    return str(path)


def _message(spec: object, **kw: object) -> str:
    with pytest.raises(NetspecError) as info:
        load_dataset(spec, **kw)
    return str(info.value)


def test_limit_keeps_the_first_training_samples() -> None:
    full = load_dataset(SpiralsData(), **_spirals())
    cut = load_dataset(SpiralsData(limit=50), **_spirals())
    np.testing.assert_array_equal(cut.train.x, full.train.x[:50])
    np.testing.assert_array_equal(cut.test.x, full.test.x)
    big = load_dataset(SpiralsData(limit=10_000), **_spirals())
    assert len(big.train) == 240 and "limit = 10000 exceeds" in big.notes[0]


def test_validation_is_stratified_and_seeded() -> None:
    a = load_dataset(SpiralsData(samples=600, validation=0.2, test=0.0), **_spirals())
    b = load_dataset(SpiralsData(samples=600, validation=0.2, test=0.0), **_spirals())
    c = load_dataset(SpiralsData(samples=600, validation=0.2, test=0.0), **_spirals(seed=1))
    assert len(a.train) == 480 and len(a.validation) == 120 and a.test is None
    assert np.bincount(a.validation.y).tolist() == [40, 40, 40]
    np.testing.assert_array_equal(a.validation.x, b.validation.x)
    assert not np.array_equal(a.validation.x, c.validation.x)


def test_one_hot_softmax() -> None:
    data = load_dataset(SpiralsData(one_hot=True), **_spirals(output_shape=(5,)))
    y = data.train.y
    assert y.shape == (240, 5) and y.dtype == np.float32
    assert np.all(y.sum(axis=1) == 1) and np.all(y[:, 3:] == 0)


def test_binary_cross_entropy_targets() -> None:
    kw = {"input_shape": (2,), "seed": 0, "loss_kind": BCE}
    labels = load_dataset(XorData(), output_shape=(1,), **kw)
    assert labels.train.y.shape == (300,) and labels.train.y.dtype == np.int64
    column = load_dataset(XorData(one_hot=True), output_shape=(1,), **kw)
    np.testing.assert_array_equal(column.train.y[:, 0], labels.train.y)
    pair = load_dataset(XorData(one_hot=True), output_shape=(2,), **kw)
    assert pair.train.y.shape == (300, 2)
    message = _message(XorData(), output_shape=(2,), **kw)
    assert "binary_cross_entropy on labels needs 1 output" in message and "dense(1)" in message


def test_labels_with_a_regression_loss() -> None:
    kw = {"input_shape": (2,), "seed": 0, "loss_kind": "mse"}
    one = load_dataset(XorData(), output_shape=(1,), **kw)
    assert one.train.y.shape == (300, 1) and one.train.y.dtype == np.float32
    hot = load_dataset(XorData(one_hot=True), output_shape=(2,), **kw)
    assert hot.train.y.shape == (300, 2)
    message = _message(XorData(), output_shape=(2,), **kw)
    assert "mse on class labels needs one target per output" in message
    assert "one_hot = true" in message


def test_float64() -> None:
    data = load_dataset(SpiralsData(validation=0.1), **_spirals(dtype="float64"))
    for split in data.splits().values():
        assert split.x.dtype == np.float64 and split.y.dtype == np.int64
    assert "dtype 'float16' is not supported" in _message(
        SpiralsData(), **_spirals(dtype="float16")
    )


def test_label_out_of_range() -> None:
    message = _message(SpiralsData(classes=4, samples=40), **_spirals())
    assert "label 3 (sample" in message and "out of range for the model's 3 outputs" in message
    assert "expected: labels 0..2" in message and "the data has 4 classes" in message
    assert "dense(4)" in message


def test_negative_label(tmp_path: Path) -> None:
    path = _npz(tmp_path, np.ones((4, 2)), np.array([0, 1, -1, 0]))
    message = _message(NpzData(path=path, test=0.0), **_spirals())
    assert "train label -1 (sample 2)" in message and "count from 0" in message


def test_binary_labels_must_be_0_or_1() -> None:
    message = _message(SpiralsData(), input_shape=(2,), output_shape=(1,), loss_kind=BCE, seed=0)
    assert "binary_cross_entropy needs labels 0 or 1" in message
    assert "label 2" in message and "the data has 3 classes" in message


def test_non_finite_values_after_encoding() -> None:
    # Sources check their values in file coordinates; this is the last net behind them.
    x = np.ones((10, 2))
    x[3, 1], x[7, 0] = np.nan, np.inf
    with pytest.raises(NetspecError) as info:
        check_finite("csv", "train", "inputs", "x", x)
    message = str(info.value)
    assert "the train inputs contain 2 non-finite values (NaN or inf)" in message
    assert "the first is x[3, 1] = nan" in message


def test_validation_too_small_for_the_sample_count() -> None:
    message = _message(SpiralsData(samples=30, validation=0.01), **_spirals())
    assert "validation = 0.01 of 24 samples in the training split is 0 samples" in message
    assert "the validation split would be empty" in message
    assert "validation >= 1/24" in message


@pytest.mark.parametrize(
    ("spec", "option", "where"),
    [
        (LinearData(samples=1), "test = 0.2", ", but there is 1 sample\n"),
        (
            LinearData(samples=3, test=0.5, validation=0.5),
            "validation = 0.5",
            ", but there is 1 sample in the training split",
        ),
    ],
)
def test_one_sample_cannot_be_split(spec: LinearData, option: str, where: str) -> None:
    regression = {"input_shape": (2,), "output_shape": (1,), "loss_kind": "mse", "seed": 0}
    message = _message(spec, **regression)
    assert f"too few samples to split: {option} needs at least 2 samples" in message
    assert where in message and "1/1" not in message


def test_test_fraction_leaves_no_training_samples() -> None:
    message = _message(SpiralsData(samples=10, test=0.99), **_spirals())
    assert "test = 0.99 of 10 samples is 10 samples" in message
    assert "the training split would be empty" in message


def test_bad_fraction() -> None:
    message = _message(SpiralsData(validation=1.5), **_spirals())
    assert "validation = 1.5 is not a fraction in [0, 1)" in message


def test_empty_test_arrays(tmp_path: Path) -> None:
    path = _npz(
        tmp_path,
        np.ones((4, 2)),
        np.zeros(4, np.int64),
        x_test=np.ones((0, 2)),
        y_test=np.zeros(0, np.int64),
    )
    assert "the test split has no samples" in _message(NpzData(path=path), **_spirals())


def test_negative_limit() -> None:
    assert "limit = -1" in _message(SpiralsData(limit=-1), **_spirals())


def test_regression_source_with_a_classification_loss() -> None:
    message = _message(LinearData(), input_shape=(2,), output_shape=(2,), loss_kind=CE, seed=0)
    assert "makes regression targets, but softmax_cross_entropy needs class labels" in message


def test_regression_target_width() -> None:
    message = _message(LinearData(), input_shape=(2,), output_shape=(2,), loss_kind="mse", seed=0)
    assert "(1,) per sample, but the model's output is (2,)" in message


def test_one_hot_on_regression_targets() -> None:
    message = _message(
        LinearData(one_hot=True), input_shape=(2,), output_shape=(1,), loss_kind="mse", seed=0
    )
    assert "one_hot = true needs class labels" in message


def test_input_width_mismatch() -> None:
    message = _message(
        LinearData(features=3), input_shape=(2,), output_shape=(1,), loss_kind="mse", seed=0
    )
    assert "the inputs have shape (3,) per sample, but the model's input is (2,)" in message
    assert "features = 3" in message


def test_unknown_loss() -> None:
    message = _message(SpiralsData(), **_spirals(loss_kind="hinge"))
    assert "unknown loss 'hinge'" in message and "softmax_cross_entropy" in message
