"""Timing: side-by-side alternation, medians and interquartile ranges, the machine header.

Every comparison runs both sides in one process, in alternating blocks: round i runs
netspec then the reference, round i + 1 the reference then netspec (so that neither
always follows the other), and each round's ratio is taken from its own two blocks, so
slow drifts of a shared machine's load cancel. A block is ``calls`` back-to-back calls
followed by one synchronisation (``drain()`` / ``block_until_ready`` / ``.item()``),
sized from a calibration run to last about ``block_s`` seconds.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

# A block runs ``n`` calls and waits for them: ``block(n)``.
Block = Callable[[int], object]

CLOCKS: dict[str, Callable[[], float]] = {
    # Wall time: what a user waits for, but it includes time the OS gave to others.
    "wall": time.perf_counter,
    # CPU time of the whole process (every thread): steadier on a shared machine when
    # each framework runs one thread, as time spent preempted is not counted.
    "cpu": time.process_time,
}
_clock: list[Callable[[], float]] = [time.perf_counter]
_clock_name: list[str] = ["wall"]


def set_clock(name: str) -> None:
    """Choose the clock of every later measurement: "wall" (default) or "cpu"."""
    _clock[0] = CLOCKS[name]
    _clock_name[0] = name


def clock_name() -> str:
    return _clock_name[0]


def now() -> float:
    return _clock[0]()


@dataclass(frozen=True)
class Spread:
    """Median and interquartile range of a sample."""

    median: float
    q1: float
    q3: float
    n: int

    @staticmethod
    def of(values: list[float]) -> Spread:
        if not values:
            return Spread(math.nan, math.nan, math.nan, 0)
        if len(values) == 1:
            v = values[0]
            return Spread(v, v, v, 1)
        q1, med, q3 = statistics.quantiles(values, n=4, method="inclusive")
        return Spread(med, q1, q3, len(values))

    def fmt(self, scale: float = 1.0, digits: int = 3) -> str:
        """``median [q1, q3]`` after multiplying by ``scale``."""
        return (
            f"{self.median * scale:.{digits}f} "
            f"[{self.q1 * scale:.{digits}f}, {self.q3 * scale:.{digits}f}]"
        )

    def finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.median, self.q1, self.q3))


@dataclass(frozen=True)
class Pair:
    """Per-call times of two alternated sides, and the per-round ratio a / b."""

    a: Spread  # seconds per call
    b: Spread
    ratio: Spread
    calls: int  # calls per block
    rounds: int
    # With a twin (a second, identical copy of b) in the rotation: twin / b per round,
    # the ratio that noise alone gives, against which a / b can be judged.
    noise: Spread | None = None


def calibrate(block: Block, block_s: float, max_calls: int = 10_000) -> int:
    """Calls per block so that a block lasts about ``block_s`` (at least one call)."""
    start = time.perf_counter()
    block(1)
    once = max(time.perf_counter() - start, 1e-7)
    start = time.perf_counter()
    n = max(1, min(max_calls, int(0.05 / once)))
    block(n)  # a second, longer estimate: the first call may still be warming up
    per_call = max((time.perf_counter() - start) / n, 1e-7)  # sized by wall time
    return max(1, min(max_calls, round(block_s / per_call)))


def alternate(
    a: Block,
    b: Block,
    *,
    rounds: int,
    block_s: float = 0.02,
    warmup: int = 2,
    calls: int | None = None,
    twin: Block | None = None,
) -> Pair:
    """Time ``a`` and ``b`` (and ``twin``) in rotating blocks (see the module docstring)."""
    sides = [a, b] + ([twin] if twin is not None else [])
    for _ in range(warmup):
        for side in sides:
            side(1)
    if calls is None:
        calls = min(calibrate(side, block_s) for side in sides)
    times: list[list[float]] = [[] for _ in sides]
    clock = _clock[0]
    for index in range(rounds):
        # Rotate the order so that no side always runs right after another.
        shift = index % len(sides)
        for position in list(range(len(sides)))[shift:] + list(range(len(sides)))[:shift]:
            start = clock()
            sides[position](calls)
            times[position].append((clock() - start) / calls)
    ratios = [x / y for x, y in zip(times[0], times[1], strict=True)]
    noise = None
    if twin is not None:
        noise = Spread.of([z / y for y, z in zip(times[1], times[2], strict=True)])
    return Pair(Spread.of(times[0]), Spread.of(times[1]), Spread.of(ratios), calls, rounds, noise)


def repeat(
    fn: Block, *, rounds: int, block_s: float = 0.02, warmup: int = 2, calls: int | None = None
) -> tuple[Spread, int]:
    """Per-call time of one side alone (median over ``rounds`` blocks), and calls/block."""
    for _ in range(warmup):
        fn(1)
    if calls is None:
        calls = calibrate(fn, block_s)
    times = []
    clock = _clock[0]
    for _ in range(rounds):
        start = clock()
        fn(calls)
        times.append((clock() - start) / calls)
    return Spread.of(times), calls


# -- the machine ----------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores() -> str:
    logical = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = logical
    return f"{usable} usable of {logical} logical"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def gpus() -> str:
    found: list[str] = []
    try:
        import torch

        if torch.cuda.is_available():
            found += [
                f"torch: {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())
            ]
    except ImportError:
        pass
    try:
        import jax

        found += [f"jax: {d.device_kind}" for d in jax.devices() if d.platform != "cpu"]
    except (ImportError, RuntimeError):
        pass
    if found:
        return "; ".join(found)
    return "none (torch.cuda.is_available() is False; jax sees CPU only)"


def versions() -> str:
    import numpy

    import netspec

    parts = [f"python {platform.python_version()}", f"numpy {numpy.__version__}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        parts.append("torch not installed")
    try:
        import jax

        parts.append(f"jax {jax.__version__}")
    except ImportError:
        parts.append("jax not installed")
    parts.append(f"netspec {netspec.__version__}")
    return ", ".join(parts)


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    seen = {(p.get("internal_api"), p.get("num_threads")) for p in threadpool_info()}
    return ", ".join(f"{api} {n} threads" for api, n in sorted(seen, key=str)) or "none found"


def header() -> str:
    return "\n".join(
        [
            f"- machine: {cpu_model()}, {cores()} cores, {platform.system()} {platform.machine()}",
            f"- GPU: {gpus()}",
            f"- versions: {versions()}",
            f"- thread pools: {blas_threads()}",
            f"- load average: {load_average()}",
            f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        ]
    )


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
