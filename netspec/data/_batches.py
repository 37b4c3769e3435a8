"""Mini-batches in an order fixed by (seed, epoch), so that a resumed run repeats it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from netspec.data._types import Split
from netspec.errors import NetspecError


def batch_order(n: int, *, seed: int, epoch: int) -> np.ndarray:
    """The permutation of ``range(n)`` for one epoch: PCG64([seed, epoch]).

    A pure function of (n, seed, epoch): resuming at epoch k needs no saved RNG state.
    """
    return np.random.Generator(np.random.PCG64([seed, epoch])).permutation(n)


def num_batches(n: int, batch_size: int, *, drop_last: bool = False) -> int:
    """How many batches :func:`batches` yields for ``n`` samples."""
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    epoch: int,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray | dict[str, np.ndarray], np.ndarray]]:
    """Yield ``(x, y)`` batches of ``split``, each sample once per epoch.

    With ``shuffle`` the order is :func:`batch_order` (one permutation per epoch, a
    fancy-index copy per batch); without it, slices (views) in storage order. The last
    batch may be smaller unless ``drop_last``.
    """
    if batch_size < 1:
        raise NetspecError(f"batch_size = {batch_size}, expected a positive integer")
    if seed < 0 or epoch < 0:
        raise NetspecError(f"seed ({seed}) and epoch ({epoch}) must be >= 0")
    n = len(split)
    stop = n - n % batch_size if drop_last else n
    if not shuffle:
        for start in range(0, stop, batch_size):
            end = min(start + batch_size, stop)
            yield split.rows(slice(start, end))
        return
    order = batch_order(n, seed=seed, epoch=epoch)
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        yield split.rows(index)
