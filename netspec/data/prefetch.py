"""Training batches prepared ahead of the step, in a background thread.

The loop's host work per batch (the shuffled rows' gather, augmentation) runs in one
producer thread while the main thread runs the previous step, so that it overlaps the
step wherever the step releases the GIL (PyTorch and JAX kernels, NumPy's matrix
products). The batches are those of :func:`train_batches`, in the same order and made
by the same calls as without the thread, so a run trains on the same bits either way.

A bounded queue (``depth`` batches) keeps the producer at most that far ahead. What the
producer raises is raised again on the main thread, the same exception; leaving the
loop early (divergence, Ctrl-C, an error in the step) stops the producer and joins it.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Generic, TypeVar

from netspec.data._augment import AugmentSpec, augment
from netspec.data._batches import batches
from netspec.data._types import Split

T = TypeVar("T")

# Batches held ready: one being consumed and one or two made ahead hide a producer as
# slow as the step; more would only hold memory.
DEPTH = 2

_DONE = object()  # the producer's iterator is exhausted


def train_batches(
    split: Split,
    batch_size: int,
    augmentations: Sequence[AugmentSpec],
    *,
    seed: int,
    epoch: int,
) -> Iterator[tuple[object, object]]:
    """One epoch's training batches: shuffled by (seed, epoch), each augmented by
    (seed, epoch, batch index), as the training loop takes them."""
    made = batches(split, batch_size, shuffle=True, seed=seed, epoch=epoch)
    for index, (x, y) in enumerate(made):
        yield augment(x, augmentations, seed=seed, epoch=epoch, batch=index), y


class _Failure:
    """What the producer raised, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetch(Generic[T]):
    """Iterate ``make()``'s items, made ``depth`` ahead in a daemon thread.

    Use as a context manager (or call :meth:`close`) so that the thread is joined
    however the iteration ends::

        with Prefetch(lambda: train_batches(...)) as items:
            for x, y in items:
                ...
    """

    def __init__(self, make: Callable[[], Iterator[T]], depth: int = DEPTH) -> None:
        if depth < 1:
            raise ValueError(f"depth = {depth}, expected at least 1")
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._finished = False
        self._thread = threading.Thread(
            target=self._produce, args=(make,), name="netspec-prefetch", daemon=True
        )
        self._thread.start()

    def _produce(self, make: Callable[[], Iterator[T]]) -> None:
        try:
            for item in make():
                if not self._put(item):
                    return
        except BaseException as error:  # every failure goes to the consumer
            self._put(_Failure(error))
            return
        self._put(_DONE)

    def _put(self, item: object) -> bool:
        """Queue ``item``, waiting for room; False once the consumer has stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        item = self._queue.get()
        if item is _DONE:
            self._finished = True
            self._thread.join()
            raise StopIteration
        if isinstance(item, _Failure):
            self._finished = True
            self.close()
            # The producer's own exception, traceback and all: the same type and
            # message as the serial loop would raise.
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the producer and wait for it (it stops within one batch's making)."""
        self._stop.set()
        self._finished = True
        # Empty the queue so that a producer blocked on a full one sees the stop.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()

    @property
    def alive(self) -> bool:
        """Whether the producer thread is still running."""
        return self._thread.is_alive()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def epoch_batches(make: Callable[[], Iterator[T]], *, prefetch: bool) -> Prefetch[T] | Serial[T]:
    """``make()``'s items, from a :class:`Prefetch` thread or (``prefetch=False``) made
    on the caller's thread when asked for; either way an iterator with ``close()``."""
    return Prefetch(make) if prefetch else Serial(make())


class Serial(Generic[T]):
    """The items made on demand, with the interface of :class:`Prefetch`."""

    def __init__(self, items: Iterator[T]) -> None:
        self._items = items

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        return next(self._items)

    def close(self) -> None:
        """Nothing runs ahead: nothing to stop."""

    def __enter__(self) -> Serial[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prefetch_pays(augments: bool, backend: str, cores: int | None = None) -> bool:
    """Whether to make a run's batches in a thread: when the train section augments its
    images, the backend's step runs outside the GIL (torch, jax) and the process may
    use at least two cores.

    The rule follows what each part costs (benchmarks/loop_pipeline.py,
    docs/benchmarks.md): without augmentation a batch is one fancy-index gather, tens of
    microseconds, no more than handing it over through the queue costs, so there is
    nothing to win; augmentation takes milliseconds per batch and can overlap a step
    that is one call into compiled code (PyTorch, XLA) and so leaves the GIL to the
    thread. The NumPy backend's step is a sequence of short NumPy calls that take the
    GIL between them, so the thread competes with the step instead of overlapping it
    (measured slower). With one core there is nothing to overlap with.
    """
    if cores is None:
        cores = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )
    return augments and backend != "numpy" and cores >= 2
