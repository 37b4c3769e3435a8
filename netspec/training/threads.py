"""The CPU thread pools of a training run: how many threads, and setting them.

PyTorch's intra-op pool (OpenMP) and the BLAS pool NumPy uses (OpenBLAS) busy-wait at
their barriers: when a pool has more threads than the cores free for it, each step waits
for the thread the OS preempted, and an epoch beside any other CPU-bound process becomes
many times slower (17-21x beside one busy process on two cores with two threads, against
2.2-2.5x with one; docs/benchmarks.md, "Latest load run"). A run therefore takes, unless told
otherwise, one thread per physical core that the recent load leaves free, at least one
(:func:`default_threads`).

Only the pools of the libraries a run uses are touched: the BLAS pool for every backend
(the loop's NumPy work, the numpy backend's matrix products), and PyTorch's intra-op
pool for the torch backend. A numpy or jax run never imports torch. XLA's CPU pool
cannot be sized from Python (jax 0.10: ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false``
and ``intra_op_parallelism_threads=N`` leave its worker threads as they were); it does
not busy-wait, so it degrades gracefully under load and keeps its default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from netspec.errors import NetspecError

AUTO = 0  # ``threads=0`` (or "auto"): the default rule


def check_threads(value: object, name: str = "threads") -> int:
    """``value`` as a thread count: an int >= 0, or "auto" (0: the default rule)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return AUTO
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NetspecError(
            f"{name} must be an integer >= 1, or 0 or 'auto' for the default (one thread "
            f"per free physical core), found {value!r}"
        )
    return int(value)


def default_threads(cores: int, load: float | None) -> int:
    """The default rule: the physical ``cores`` less those the ``load`` (other runnable
    processes: :func:`current_load`) keeps busy, rounded to the nearest, and at least
    one. Without a load figure, every core."""
    busy = int(load + 0.5) if load is not None and math.isfinite(load) and load > 0 else 0
    return max(1, min(cores, cores - busy))


def physical_cores() -> int:
    """Distinct physical cores among the CPUs this process may run on (hyper-threads of
    one core count once), and no more than its cgroup's CPU quota (a container's
    ``--cpus``)."""
    try:
        usable = set(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: logical CPUs, the most torch would take
        return max(1, os.cpu_count() or 1)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            count = count_cores(handle.read(), usable)
    except OSError:
        count = len(usable)
    quota = cpu_quota(Path("/sys/fs/cgroup"))
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def count_cores(cpuinfo: str, usable: set[int]) -> int:
    """Distinct (physical id, core id) pairs among the ``usable`` CPUs of a
    /proc/cpuinfo text; a CPU it gives no core id counts as a core of its own."""
    cores: dict[int, tuple[str, str]] = {}
    for block in cpuinfo.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if fields.get("processor", "").isdigit() and "core id" in fields:
            cores[int(fields["processor"])] = (fields.get("physical id", "0"), fields["core id"])
    return len({cores.get(cpu, ("cpu", str(cpu))) for cpu in usable})


def cpu_quota(root: Path) -> float | None:
    """CPUs' worth of time the cgroup at ``root`` may use: cgroup v2's cpu.max, else
    v1's cpu/cpu.cfs_quota_us over cpu.cfs_period_us; None without a quota."""
    try:
        quota, period = (root / "cpu.max").read_text(encoding="utf-8").split()[:2]
    except (OSError, ValueError):
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text(encoding="utf-8").strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text(encoding="utf-8").strip()
        except OSError:
            return None
    try:
        value = float(quota) / float(period)
    except (ValueError, ZeroDivisionError):  # "max": no quota
        return None
    return value if value > 0 else None  # v1 writes -1 for none


def current_load() -> float | None:
    """Other runnable processes: the 1-minute load average, or the tasks runnable at
    this instant less this one where more (the average lags a process started seconds
    ago by most of a minute); None where the system gives neither."""
    try:
        average: float | None = os.getloadavg()[0]
    except (AttributeError, OSError):
        average = None
    try:
        with open("/proc/loadavg", encoding="utf-8") as handle:
            running = int(handle.read().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        return average
    return max(average or 0.0, float(running))


def resolve(threads: int) -> int:
    """The thread count a run uses: ``threads`` itself, or the default rule for 0."""
    if threads > 0:
        return threads
    return default_threads(physical_cores(), current_load())


@dataclass
class Pools:
    """The pools set for a run, and how to put them back as they were."""

    threads: int
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def restore(self) -> None:
        """Put every pool back to its size before :func:`apply`."""
        while self._undo:
            self._undo.pop()()


def apply(threads: int, backend: str) -> Pools:
    """Size the pools ``backend`` uses to ``threads`` (0: :func:`resolve`'s rule)."""
    count = resolve(threads)
    pools = Pools(count)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dependency; without it only torch's pool can be sized
        pass
    else:
        # The BLAS libraries only: torch's OpenMP runtime is set through torch below,
        # and only for a torch run.
        limits = threadpool_limits(limits=count, user_api="blas")
        pools._undo.append(limits.restore_original_limits)
    if backend == "torch":
        import torch

        saved = torch.get_num_threads()
        torch.set_num_threads(count)
        pools._undo.append(lambda: torch.set_num_threads(saved))
    return pools


def worker_share(threads: int, nproc: int) -> int:
    """Each of ``nproc`` worker processes' threads when the run as a whole takes
    ``threads`` (0: the default rule): an equal share, at least one."""
    return max(1, resolve(threads) // nproc)
