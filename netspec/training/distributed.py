"""Data-parallel training: the backend-neutral view of a group of processes.

A :class:`World` is what the training loop knows of the processes that train one run
together: its own ``rank``, the group's ``size``, and four collective operations that
every process must call in the same order. Each backend supplies its own (PyTorch:
``netspec.backends.torch._distributed.TorchWorld``); :data:`SINGLE` is the world of a
one-process run, where every operation is the identity, so the loop reads the same
either way.

The rules the loop follows (docs/distributed.md):

- The train section's batch size is the global batch. Every rank computes the same
  shuffled order of each epoch (:func:`netspec.data.batches`) and takes its
  :func:`share` of each global batch: contiguous, the first ``B % N`` ranks one sample
  more; a share may be empty (a last batch smaller than the world).
- Rank 0 (``is_writer``) alone claims and writes the run directory; the others learn
  its path by :meth:`World.broadcast` and wait at :meth:`World.barrier`.
- Host statistics (loss sums, sample and hit counts) are added over ranks by
  :meth:`World.sum`, so every rank sees the figures of the whole global batch.

What a backend adds for a world of several processes (the loop calls these only when
``world.size > 1``): :func:`join` returns its world (which may carry a ``device``
attribute: the device string this process trains on, replacing the one asked for), and
its train step has ``distribute(world, *, sync_batchnorm)`` (from then on each
``step(x, y, lr)`` receives the global batch and makes the global batch's update) and
``share_state()`` (rank 0's non-trained state, such as batch-norm running statistics,
on every rank; called before each evaluation).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol, TypeVar, runtime_checkable

from netspec.errors import NetspecError
from netspec.train_stats import Stats

T = TypeVar("T")

# The numpy backend's refusal, one message wherever it is met (the CLI, netspec.train,
# a launcher's environment).
NUMPY_ONE_PROCESS = (
    "the numpy backend trains in one process; use --backend torch for data-parallel "
    "training (found {what})"
)


@runtime_checkable
class World(Protocol):
    """The processes training one run. Every method but :attr:`is_writer` is a
    collective: all ranks call it, in the same order, or the group waits (up to the
    backend's collective timeout, after which the run fails with an error)."""

    rank: int  # 0 .. size - 1; rank 0 writes the run directory
    size: int  # the number of processes
    local_rank: int  # the rank among the processes of this machine (picks the GPU)

    @property
    def is_writer(self) -> bool:
        """True on the one process that writes the run directory (rank 0)."""
        ...

    def barrier(self) -> None:
        """Wait until every rank has reached this call."""
        ...

    def sum(self, values: Sequence[float]) -> list[float]:
        """The element-wise sum over ranks of ``values`` (float64; every rank passes a
        sequence of the same length and gets the same result)."""
        ...

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` (a small picklable object) on every rank."""
        ...

    def close(self) -> None:
        """Leave the group (idempotent); the world is unusable afterwards."""
        ...


class SingleProcess:
    """The world of a run in one process: rank 0 of 1, every collective the identity."""

    rank = 0
    size = 1
    local_rank = 0

    @property
    def is_writer(self) -> bool:
        return True

    def barrier(self) -> None:
        return None

    def sum(self, values: Sequence[float]) -> list[float]:
        return [float(v) for v in values]

    def broadcast(self, value: T) -> T:
        return value

    def close(self) -> None:
        return None


SINGLE = SingleProcess()


def share(count: int, rank: int, size: int) -> slice:
    """The contiguous part of ``count`` items that ``rank`` of ``size`` takes: the first
    ``count % size`` ranks take one item more, so shares differ by at most one and may
    be empty (``count < size``); together they cover ``range(count)`` once, in order."""
    if size < 1 or not 0 <= rank < size:
        raise NetspecError(f"rank {rank} is not in a world of {size} processes")
    base, extra = divmod(count, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (1 if rank < extra else 0))


def check_nproc(nproc: object, backend: str) -> int:
    """``nproc`` as a positive int; the numpy backend takes only 1."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise NetspecError(f"nproc must be an integer >= 1, found {nproc!r}")
    if nproc > 1 and backend == "numpy":
        raise NetspecError(NUMPY_ONE_PROCESS.format(what=f"nproc = {nproc}"))
    if nproc > 1 and backend != "torch":
        raise NetspecError(
            f"nproc = {nproc} starts PyTorch worker processes; the {backend} backend "
            "does not train in several processes this way: use --backend torch (the jax "
            "backend trains data-parallel with --devices and jax.distributed, "
            "docs/distributed.md)"
        )
    return nproc


def join(backend: str, device: str) -> World:
    """The world this process belongs to: :data:`SINGLE` unless a launcher (torchrun, or
    ``netspec train --nproc``) set ``WORLD_SIZE`` above 1 in the environment, in which
    case the process joins the group it describes (PyTorch only)."""
    text = os.environ.get("WORLD_SIZE", "1") or "1"
    size = int(text) if text.isdigit() else -1
    if size < 1:
        raise NetspecError(f"WORLD_SIZE must be a positive integer, found {text!r}")
    if size == 1:
        return SINGLE
    if backend == "numpy":
        raise NetspecError(NUMPY_ONE_PROCESS.format(what=f"WORLD_SIZE = {size} from a launcher"))
    if backend != "torch":
        raise NetspecError(
            f"WORLD_SIZE = {size} from a launcher such as torchrun, which starts PyTorch "
            f"workers; the {backend} backend's processes start through jax.distributed "
            "(docs/distributed.md): use --backend torch under torchrun"
        )
    from netspec.backends.torch._distributed import TorchWorld

    return TorchWorld(device)


def rank_seed(seed: int, world: World) -> int:
    """A per-rank random stream from a run's ``seed`` (dropout masks): the seed itself in
    one process, a different one on each rank of several, all fixed by (seed, rank)."""
    if world.size == 1:
        return seed
    return (seed * 1_000_003 + world.rank + 1) % (2**63)


def reduce_stats(world: World, stats: Stats, steps: int) -> Stats:
    """The statistics of ``steps`` steps summed over ranks; the first non-finite step is
    the first that any rank saw as such."""
    if world.size == 1:
        return stats
    flags = [1.0 if 0 <= stats.first_nonfinite <= i else 0.0 for i in range(steps)]
    total = world.sum([stats.loss_sum, stats.samples, stats.correct, *flags])
    first = next((i for i, flag in enumerate(total[3:]) if flag > 0), -1)
    return Stats(
        loss_sum=total[0],
        samples=round(total[1]),
        correct=round(total[2]),
        first_nonfinite=first,
    )
