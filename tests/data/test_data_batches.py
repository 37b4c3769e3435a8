"""Batch order: a pure function of (seed, epoch), every sample once per epoch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from netspec.data import Split, batch_order, batches, num_batches
from netspec.errors import NetspecError


def _split(n: int) -> Split:
    return Split(x=np.arange(n * 2, dtype=np.float32).reshape(n, 2), y=np.arange(n))


def _order(split: Split, size: int, **kw: object) -> list[int]:
    return [int(i) for _, y in batches(split, size, **kw) for i in y]


def test_same_seed_and_epoch_same_order() -> None:
    split = _split(103)
    first = _order(split, 10, shuffle=True, seed=4, epoch=7)
    again = _order(split, 10, shuffle=True, seed=4, epoch=7)
    assert first == again
    assert first == batch_order(103, seed=4, epoch=7).tolist()
    expected = np.random.Generator(np.random.PCG64([4, 7])).permutation(103).tolist()
    assert first == expected
    assert first != _order(split, 10, shuffle=True, seed=4, epoch=8)
    assert first != _order(split, 10, shuffle=True, seed=5, epoch=7)


def test_resuming_needs_no_state() -> None:
    split = _split(50)
    epochs = [_order(split, 8, shuffle=True, seed=0, epoch=e) for e in range(5)]
    # Resuming at epoch 3 in a fresh process is just calling with epoch=3.
    assert _order(split, 8, shuffle=True, seed=0, epoch=3) == epochs[3]


def test_x_and_y_stay_paired() -> None:
    split = _split(37)
    for x, y in batches(split, 5, shuffle=True, seed=1, epoch=0):
        np.testing.assert_array_equal(x[:, 0], y * 2)


def test_no_shuffle_yields_views_in_order() -> None:
    split = _split(10)
    got = list(batches(split, 4, shuffle=False, seed=0, epoch=0))
    assert [len(y) for _, y in got] == [4, 4, 2]
    assert np.shares_memory(got[0][0], split.x)
    assert _order(split, 4, shuffle=False, seed=0, epoch=0) == list(range(10))


def test_drop_last() -> None:
    split = _split(10)
    sizes = [len(y) for _, y in batches(split, 4, shuffle=True, seed=0, epoch=0, drop_last=True)]
    assert sizes == [4, 4]
    assert num_batches(10, 4) == 3 and num_batches(10, 4, drop_last=True) == 2
    assert list(batches(_split(3), 4, shuffle=False, seed=0, epoch=0, drop_last=True)) == []


def test_bad_batch_size() -> None:
    with pytest.raises(NetspecError, match="batch_size = 0"):
        next(batches(_split(3), 0, shuffle=True, seed=0, epoch=0))


@given(
    n=st.integers(0, 300),
    size=st.integers(1, 64),
    seed=st.integers(0, 2**32),
    epoch=st.integers(0, 1000),
    drop_last=st.booleans(),
)
def test_each_sample_once_per_epoch(
    n: int, size: int, seed: int, epoch: int, drop_last: bool
) -> None:
    order = _order(_split(n), size, shuffle=True, seed=seed, epoch=epoch, drop_last=drop_last)
    assert len(order) == len(set(order)) == (n // size * size if drop_last else n)
    assert len(order) == min(n, num_batches(n, size, drop_last=drop_last) * size)
    if not drop_last:
        assert sorted(order) == list(range(n))
