"""The prefetch thread: the serial batches, in order; its failures raised on the
consumer's thread; and no thread left behind however the iteration ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from netspec.data import load_dataset
from netspec.data.prefetch import Prefetch, epoch_batches, prefetch_pays, train_batches
from netspec.errors import NetspecError
from netspec.ir.train import RandomCrop, RandomRotate


def _split() -> object:
    import netspec

    spec = netspec.load(
        "netspec 1\nmodel m(x: [1, 8, 8]) { flatten -> dense(10) }\n"
        "train m { data digits(limit = 120) loss softmax_cross_entropy "
        "optimizer sgd(lr = 0.1) batch_size 16 epochs 1 }\n"
    ).trains[0]
    data = load_dataset(
        spec.data, input_shape=(1, 8, 8), output_shape=(10,), loss_kind=spec.loss.kind, seed=0
    )
    return data.train


def _alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "netspec-prefetch"]


@pytest.mark.parametrize("epoch", [0, 3])
def test_prefetched_batches_are_the_serial_ones(epoch: int) -> None:
    split = _split()
    augmentations = [RandomCrop(padding=2), RandomRotate(degrees=15.0)]

    def made() -> Iterator[tuple[object, object]]:
        return train_batches(split, 16, augmentations, seed=5, epoch=epoch)  # type: ignore[arg-type]

    serial = list(epoch_batches(made, prefetch=False))
    with Prefetch(made) as items:
        threaded = list(items)
    assert len(threaded) == len(serial) == 8  # 120 training samples in batches of 16
    for (xa, ya), (xb, yb) in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not _alive()


class _Broken(NetspecError):
    """A failure of the producer's own type."""


def test_what_the_producer_raises_is_raised_on_the_consumer() -> None:
    def made() -> Iterator[int]:
        yield 1
        yield 2
        raise _Broken("batch 3 cannot be made: expected images, found text")

    items = Prefetch(made)
    assert next(items) == 1
    assert next(items) == 2
    with pytest.raises(_Broken, match=r"^batch 3 cannot be made: expected images, found text$"):
        next(items)
    assert not items.alive
    with pytest.raises(StopIteration):  # finished: nothing more, no hang
        next(items)


def test_leaving_early_stops_a_producer_blocked_on_a_full_queue() -> None:
    made_count = 0

    def endless() -> Iterator[int]:
        nonlocal made_count
        while True:
            made_count += 1
            yield made_count

    with Prefetch(endless, depth=2) as items:
        assert next(items) == 1
    assert not items.alive
    assert made_count <= 4  # at most depth ahead (plus the one waiting to be queued)
    assert not _alive()


def test_an_exception_in_the_consumer_loop_leaves_no_thread() -> None:
    with pytest.raises(KeyboardInterrupt), Prefetch(lambda: iter(range(100))) as items:
        for value in items:
            if value == 3:
                raise KeyboardInterrupt
    assert not _alive()


def test_a_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="depth = 0, expected at least 1"):
        Prefetch(lambda: iter(()), depth=0)


@pytest.mark.parametrize(
    ("augments", "backend", "cores", "expected"),
    [
        (True, "torch", 2, True),
        (True, "jax", 16, True),
        (True, "torch", 1, False),
        (True, "numpy", 16, False),
        (False, "torch", 16, False),
        (False, "jax", 2, False),
    ],
)
def test_the_thread_is_used_for_augmented_batches_of_a_compiled_step_with_a_second_core(
    augments: bool, backend: str, cores: int, expected: bool
) -> None:
    assert prefetch_pays(augments, backend, cores) is expected
