"""The synthetic sequence sources: sine, adding, copy (determinism, layout, targets)."""

from __future__ import annotations

import numpy as np
import pytest

from netspec.data import Dataset, load_dataset
from netspec.errors import NetspecError
from netspec.ir.train import AddingData, CopyData, DataSpec, SineData


def _load(
    spec: DataSpec,
    sample: tuple[int, ...],
    target: tuple[int, ...],
    *,
    loss: str = "mse",
    seed: int = 0,
) -> Dataset:
    return load_dataset(
        spec, input_shape=sample, output_shape=target, loss_kind=loss, seed=seed, dtype="float64"
    )


SOURCES = [
    pytest.param(SineData(length=7), (7, 1), (1,), "mse", id="sine"),
    pytest.param(AddingData(length=10), (10, 2), (1,), "mse", id="adding"),
    pytest.param(
        CopyData(length=5, symbols=4, remember=3),
        (11, 6),
        (3, 4),
        "binary_cross_entropy",
        id="copy",
    ),
]


@pytest.mark.parametrize(("spec", "sample", "target", "loss"), SOURCES)
def test_same_seed_same_samples_other_seed_others(
    spec: DataSpec, sample: tuple[int, ...], target: tuple[int, ...], loss: str
) -> None:
    first = _load(spec, sample, target, loss=loss, seed=5)
    again = _load(spec, sample, target, loss=loss, seed=5)
    other = _load(spec, sample, target, loss=loss, seed=6)
    for a, b in ((first.train, again.train), (first.test, again.test)):
        assert a is not None and b is not None
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(first.train.x, other.train.x)


@pytest.mark.parametrize(("spec", "sample", "target", "loss"), SOURCES)
def test_shapes_and_split_sizes(
    spec: DataSpec, sample: tuple[int, ...], target: tuple[int, ...], loss: str
) -> None:
    spec = spec.model_copy(update={"samples": 50, "test": 0.2, "validation": 0.25})
    data = _load(spec, sample, target, loss=loss)
    assert data.test is not None and data.validation is not None
    assert (len(data.train), len(data.validation), len(data.test)) == (30, 10, 10)
    assert data.train.x.shape == (30, *sample) and data.train.y.shape == (30, *target)
    assert data.train.x.dtype == np.float64 and data.train.y.dtype == np.float64


def test_sine_targets_continue_the_wave() -> None:
    data = _load(SineData(length=6, samples=200, test=0.0), (6, 1), (1,))
    x, y = data.train.x[:, :, 0], data.train.y[:, 0]
    assert np.all(np.abs(x) <= 1.0)
    # A sampled sine obeys s(t + 1) = 2 cos(w) s(t) - s(t - 1); cos(w) from the window.
    cos_w = (x[:, 2] + x[:, 0]) / (2 * x[:, 1])
    usable = np.abs(x[:, 1]) > 0.1  # away from a zero crossing, where the ratio is unstable
    predicted = 2 * cos_w * x[:, -1] - x[:, -2]
    np.testing.assert_allclose(predicted[usable], y[usable], atol=1e-6)
    # The frequency lies in the documented default range [0.02, 0.1] cycles per step.
    frequency = np.arccos(np.clip(cos_w[usable], -1, 1)) / (2 * np.pi)
    assert frequency.min() >= 0.02 - 1e-6 and frequency.max() <= 0.1 + 1e-6


def test_adding_targets_are_the_sum_of_the_marked_values() -> None:
    length = 9
    data = _load(AddingData(length=length, samples=300), (length, 2), (1,))
    for split in (data.train, data.test):
        assert split is not None
        values, marker = split.x[:, :, 0], split.x[:, :, 1]
        assert np.all((values >= 0) & (values < 1))
        assert set(np.unique(marker)) == {0.0, 1.0}
        # Exactly two markers: one in the first half (steps 0..3), one in the second (4..8).
        assert np.all(marker[:, : length // 2].sum(axis=1) == 1)
        assert np.all(marker[:, length // 2 :].sum(axis=1) == 1)
        np.testing.assert_allclose(split.y[:, 0], (values * marker).sum(axis=1))


def test_copy_layout_and_targets() -> None:
    length, symbols, remember = 4, 5, 3
    data = _load(
        CopyData(length=length, symbols=symbols, remember=remember, samples=100),
        (length + 2 * remember, symbols + 2),
        (remember, symbols),
        loss="binary_cross_entropy",
    )
    x, y = data.train.x, data.train.y
    np.testing.assert_array_equal(x.sum(axis=2), 1.0)  # one-hot at every step
    codes = x.argmax(axis=2)
    delimiter = symbols + 1
    assert np.all((codes[:, :remember] >= 1) & (codes[:, :remember] <= symbols))
    np.testing.assert_array_equal(codes[:, remember : remember + length - 1], 0)
    np.testing.assert_array_equal(codes[:, remember + length - 1], delimiter)
    np.testing.assert_array_equal(codes[:, remember + length :], 0)
    # The target is the remembered symbols, one-hot over 1..S (symbol s at index s - 1).
    np.testing.assert_array_equal(y.sum(axis=2), 1.0)
    np.testing.assert_array_equal(y.argmax(axis=2) + 1, codes[:, :remember])


def test_copy_refuses_softmax_over_per_step_targets() -> None:
    with pytest.raises(NetspecError, match="one class distribution per sample") as caught:
        _load(CopyData(), (40, 10), (10, 8), loss="softmax_cross_entropy")
    assert "binary_cross_entropy" in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "sample", "message"),
    [
        (AddingData(length=1), (1, 2), "adding: length = 1, expected an integer >= 2"),
        (SineData(length=0), (0, 1), "sine: length = 0, expected an integer >= 1"),
        (SineData(min_frequency=0.5), (20, 1), r"min_frequency = 0.5, expected a frequency"),
        (
            SineData(min_frequency=0.2, max_frequency=0.1),
            (20, 1),
            "min_frequency = 0.2, expected at most max_frequency = 0.1",
        ),
        (SineData(noise=-1.0), (20, 1), "sine: noise = -1.0"),
        (CopyData(symbols=0), (40, 2), "copy: symbols = 0, expected an integer >= 1"),
    ],
)
def test_bad_arguments_say_what_was_expected(
    spec: DataSpec, sample: tuple[int, ...], message: str
) -> None:
    with pytest.raises(NetspecError, match=message):
        _load(spec, sample, (1,))
