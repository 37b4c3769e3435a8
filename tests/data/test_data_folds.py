"""k-fold splits: fold k of K is the validation split; the folds partition the training
samples, are fixed by the seed and spread each class evenly."""

from __future__ import annotations

import numpy as np
import pytest

from netspec.data import load_dataset
from netspec.data._arrays import ArrayData
from netspec.data._split import fold_of, rng_for
from netspec.errors import NetspecError
from netspec.ir.train import DigitsData, LinearData

CE = "softmax_cross_entropy"


def _tagged(n: int = 103, classes: int = 4) -> ArrayData:
    """Samples whose one feature is their index, with unbalanced classes."""
    x = np.arange(n, dtype=np.float64)[:, None]
    y = np.minimum(np.arange(n) % 7, classes - 1)  # class 3 takes 4 of every 7
    return ArrayData.parse((x, y))


def _fold(k: int, folds: int, *, seed: int = 0, validation: float = 0.0, loss: str = CE) -> object:
    return load_dataset(
        DigitsData(validation=validation),
        input_shape=(1,),
        output_shape=(4,) if loss == CE else (1,),
        loss_kind=loss,
        seed=seed,
        arrays=_tagged() if loss == CE else _regression(),
        dtype="float64",
        fold=(k, folds),
    )


def _regression() -> ArrayData:
    x = np.arange(50, dtype=np.float64)[:, None]
    return ArrayData.parse((x, x * 2.0))


def _ids(split: object) -> list[int]:
    return sorted(int(v) for v in split.x[:, 0])  # type: ignore[attr-defined]


@pytest.mark.parametrize("loss", [CE, "mse"])
@pytest.mark.parametrize("folds", [2, 3, 5])
def test_every_training_sample_is_held_out_in_exactly_one_fold(folds: int, loss: str) -> None:
    n = 103 if loss == CE else 50
    held: list[int] = []
    for k in range(1, folds + 1):
        data = _fold(k, folds, loss=loss)
        train, validation = _ids(data.train), _ids(data.validation)
        assert not set(train) & set(validation)
        assert sorted(train + validation) == list(range(n))  # nothing lost or repeated
        assert abs(len(validation) - n / folds) < 1  # sizes differ by at most one
        held += validation
    assert sorted(held) == list(range(n))


def test_folds_are_fixed_by_the_seed() -> None:
    first = [_ids(_fold(k, 3, seed=5).validation) for k in (1, 2, 3)]
    again = [_ids(_fold(k, 3, seed=5).validation) for k in (1, 2, 3)]
    other = [_ids(_fold(k, 3, seed=6).validation) for k in (1, 2, 3)]
    assert first == again
    assert first != other


def test_each_class_is_spread_evenly_over_the_folds() -> None:
    labels = _tagged().train[1]
    assigned = fold_of(len(labels), 4, rng_for(0, 4), labels)
    for c in np.unique(labels):
        per_fold = np.bincount(assigned[labels == c], minlength=4)
        assert per_fold.max() - per_fold.min() <= 1, (c, per_fold)


def test_a_fold_replaces_the_validation_fraction_and_says_so() -> None:
    data = _fold(2, 4, validation=0.1)
    assert len(data.validation) in (25, 26)  # a quarter, not a tenth
    assert any("fold 2 of 4 is the validation split" in note for note in data.notes)


def test_a_generated_source_splits_after_its_test_split() -> None:
    kw = {"input_shape": (2,), "output_shape": (1,), "loss_kind": "mse", "seed": 0}
    whole = load_dataset(LinearData(samples=60), **kw)
    fold = load_dataset(LinearData(samples=60), fold=(1, 3), **kw)
    assert len(fold.train) + len(fold.validation) == len(whole.train) == 48
    np.testing.assert_array_equal(fold.test.x, whole.test.x)  # the test split is untouched


@pytest.mark.parametrize(
    ("fold", "expected"),
    [
        ((0, 3), "1 <= k <= K, found (0, 3)"),
        ((4, 3), "found (4, 3)"),
        ((1, 1), "K >= 2"),
        ([1, 3], "found [1, 3]"),
        ((True, 3), "found (True, 3)"),
    ],
)
def test_a_bad_fold_is_an_error(fold: object, expected: str) -> None:
    with pytest.raises(NetspecError, match="fold must be") as info:
        load_dataset(
            DigitsData(), input_shape=(1,), output_shape=(4,), loss_kind=CE, seed=0,
            arrays=_tagged(), fold=fold,  # type: ignore[arg-type]
        )  # fmt: skip
    assert expected in str(info.value)


def test_more_folds_than_samples_is_an_error() -> None:
    x, y = np.zeros((3, 1)), np.array([0, 1, 0])
    with pytest.raises(NetspecError, match="5 folds need at least 5 training samples, found 3"):
        load_dataset(
            DigitsData(), input_shape=(1,), output_shape=(2,), loss_kind=CE, seed=0,
            arrays=ArrayData.parse((x, y)), fold=(1, 5),
        )  # fmt: skip
