"""Group load: an epoch alone and beside a competing CPU-bound process.

An "epoch" here is one pass of netspec's fused training step (softmax cross-entropy,
SGD) over ``samples`` random MNIST-shaped images, made beforehand, and one drain of the
statistics: the loop's training phase without data loading or evaluation. Each case
runs it in rounds that alternate (alone, beside) and (beside, alone); "beside" means
with ``competitors`` busy-loop Python processes running (``while True: pass``, started
once and paused with SIGSTOP while a round runs alone, so that they cost nothing then).
The slowdown is each round's beside / alone epoch time; the table gives its median and
interquartile range.

Thread settings compared:

- the libraries' default: as many threads as usable CPUs (OpenMP's default, which
  PyTorch takes, and OpenBLAS's), alone and beside;
- netspec's default (:func:`netspec.training.threads.default_threads`): for the alone
  rounds the rule applied to the machine's background load when the group starts (the
  tasks runnable other than this process, the mean of 20 samples of /proc/loadavg over
  a second: the load average would count this process's own earlier groups), for the
  beside rounds to that load plus the competitors, as a run started on a machine that
  busy would choose;
- JAX: XLA's own pool, which cannot be sized from Python (netspec.training.threads).

Goal: netspec's default slows an epoch by at most 2.5x beside a competing process (the
slowdown JAX shows with its own pool).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import netspec
from benchmarks._timing import Spread, table
from netspec.backend import get_backend
from netspec.ir.train import Sgd, SoftmaxCrossEntropy
from netspec.training import threads as thread_pools

ROOT = Path(__file__).resolve().parents[1]
SPECS = {"mlp": ROOT / "specs" / "mlp.net", "lenet5": ROOT / "specs" / "lenet5.net"}
TITLES = {"mlp": "MLP 784-256-10", "lenet5": "LeNet-5"}
BATCHES = {"mlp": 128, "lenet5": 64}
SLOWDOWN_GOAL = 2.5
LR = 1e-3
# (framework, net): the cases of a full run.
CASES = (("torch", "lenet5"), ("torch", "mlp"), ("numpy", "mlp"), ("jax", "lenet5"), ("jax", "mlp"))


@dataclass
class LoadRow:
    framework: str
    net: str
    setting: str  # "library default", "netspec default", "XLA default"
    threads_alone: int | None  # None: the library's own pool (XLA)
    threads_beside: int | None
    alone: Spread  # seconds per epoch
    beside: Spread
    slowdown: Spread  # beside / alone, per round

    @property
    def is_goal(self) -> bool:
        """Whether this row's slowdown is held to the goal: netspec's choice of threads."""
        return self.setting in ("netspec default", "XLA default")


@dataclass
class LoadResult:
    rows: list[LoadRow] = field(default_factory=list)
    samples: dict[str, int] = field(default_factory=dict)
    background: float | None = None  # runnable tasks besides this one when the group started
    load_average: float | None = None  # the 1-minute load average then
    cores: int = 1
    usable: int = 1
    competitors: int = 1
    skipped: list[str] = field(default_factory=list)


@contextlib.contextmanager
def competing(count: int) -> Iterator[Callable[[bool], None]]:
    """``count`` busy-loop processes, paused; yields ``run(on)`` to resume or pause them."""
    procs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(count)
    ]

    def run(on: bool) -> None:
        for proc in procs:
            os.kill(proc.pid, signal.SIGCONT if on else signal.SIGSTOP)

    try:
        run(False)
        yield run
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)  # a stopped process ignores SIGTERM
            proc.terminate()
            proc.wait()


def _background(samples: int = 20, interval: float = 0.05) -> float | None:
    """Tasks runnable besides this process, averaged over ``samples`` readings."""
    counts = []
    for _ in range(samples):
        try:
            with open("/proc/loadavg", encoding="utf-8") as handle:
                counts.append(int(handle.read().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):
            return thread_pools.current_load()
        time.sleep(interval)
    return sum(counts) / len(counts)


def _epoch(framework: str, net: str, samples: int) -> Callable[[int | None], float]:
    """A function that runs one epoch of ``samples`` images (or its first ``steps``
    steps) and returns its seconds."""
    model = netspec.load(SPECS[net]).model()
    compiled = get_backend(framework).compile(model, seed=0, dtype="float32")
    step = compiled.train_step(SoftmaxCrossEntropy(), Sgd(lr=LR), None)
    batch = BATCHES[net]
    rng = np.random.default_rng(0)
    shape = tuple(model.inputs[0].shape)
    made = [
        (
            rng.uniform(0.0, 1.0, (batch, *shape)).astype(np.float32),
            rng.integers(0, 10, batch).astype(np.int64),
        )
        for _ in range(max(1, samples // batch))
    ]

    def epoch(steps: int | None = None) -> float:
        start = time.perf_counter()
        for x, y in made[:steps]:
            step.step(x, y, LR)
        step.drain()
        return time.perf_counter() - start

    return epoch


@contextlib.contextmanager
def _threads(framework: str, count: int | None) -> Iterator[None]:
    if count is None:  # XLA's pool: left as it is
        yield
        return
    pools = thread_pools.apply(count, framework)
    try:
        yield
    finally:
        pools.restore()


def _measure(
    epoch: Callable[[int | None], float],
    framework: str,
    counts: tuple[int | None, int | None],
    rounds: int,
    run: Callable[[bool], None],
) -> tuple[Spread, Spread, Spread]:
    alone: list[float] = []
    beside: list[float] = []
    for index in range(rounds):
        order = (False, True) if index % 2 == 0 else (True, False)
        for busy in order:
            with _threads(framework, counts[1] if busy else counts[0]):
                epoch(2)  # two untimed steps settle the pool at its new size
                run(busy)
                try:
                    seconds = epoch(None)
                finally:
                    run(False)
            (beside if busy else alone).append(seconds)
    ratios = [b / a for a, b in zip(alone, beside, strict=True)]
    return Spread.of(alone), Spread.of(beside), Spread.of(ratios)


def run(
    *,
    rounds: int = 5,
    samples: dict[str, int] | None = None,
    cases: tuple[tuple[str, str], ...] = CASES,
    competitors: int = 1,
    progress: Callable[[str], None] | None = None,
) -> LoadResult:
    # Small enough that the collapsed rows (tens of times slower) still end in minutes.
    samples = samples or {"mlp": 2048, "lenet5": 1024}
    background = _background()
    cores = thread_pools.physical_cores()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    result = LoadResult(
        samples=samples,
        background=background,
        load_average=thread_pools.current_load(),
        cores=cores,
        usable=usable,
        competitors=competitors,
    )
    quiet = thread_pools.default_threads(cores, background)
    busy = thread_pools.default_threads(cores, (background or 0.0) + competitors)
    with competing(competitors) as switch:
        for framework, net in cases:
            try:
                __import__(framework)
            except ImportError:
                result.skipped.append(f"{framework}: not installed")
                continue
            epoch = _epoch(framework, net, samples[net])
            epoch(None)  # compiles (jax) and allocates: not timed
            settings: list[tuple[str, int | None, int | None]]
            if framework == "jax":
                settings = [("XLA default", None, None)]
            else:
                settings = [("library default", usable, usable), ("netspec default", quiet, busy)]
            for setting, alone_threads, beside_threads in settings:
                if progress:
                    progress(f"load: {framework} {net}, {setting}")
                alone, beside, slowdown = _measure(
                    epoch, framework, (alone_threads, beside_threads), rounds, switch
                )
                result.rows.append(
                    LoadRow(
                        framework,
                        net,
                        setting,
                        alone_threads,
                        beside_threads,
                        alone,
                        beside,
                        slowdown,
                    )
                )
    return result


def _count(threads: int | None) -> str:
    return "XLA's" if threads is None else str(threads)


def render(result: LoadResult) -> str:
    title = "### load: an epoch alone and beside a competing CPU-bound process"
    background = "n/a" if result.background is None else f"{result.background:.2f}"
    average = "n/a" if result.load_average is None else f"{result.load_average:.2f}"
    lines = [
        title,
        "",
        f"{result.competitors} busy-loop process(es) beside the epoch; {result.cores} "
        f"physical core(s), {result.usable} usable CPU(s); background when the group "
        f"started: {background} other runnable tasks (load figure {average}). Epoch: "
        + ", ".join(f"{n} {TITLES[net]} images" for net, n in result.samples.items())
        + ". Seconds per epoch and slowdown (beside / alone, per round): median [IQR]; "
        "the last column sets the epoch beside the competitor against the fastest alone "
        "of its net (a pool that collapses on a busy machine is slow alone already). "
        f"Goal: netspec's default <= {SLOWDOWN_GOAL:g}x.",
        "",
    ]
    fastest: dict[tuple[str, str], float] = {}
    for r in result.rows:
        key = (r.framework, r.net)
        fastest[key] = min(fastest.get(key, r.alone.median), r.alone.median)
    rows = []
    for r in result.rows:
        verdict = ""
        if r.is_goal:
            verdict = " (met)" if r.slowdown.median <= SLOWDOWN_GOAL else " (NOT met)"
        rows.append(
            [
                r.framework,
                TITLES[r.net],
                r.setting,
                f"{_count(r.threads_alone)} / {_count(r.threads_beside)}",
                r.alone.fmt(),
                r.beside.fmt(),
                f"{r.slowdown.fmt(digits=2)}x{verdict}",
                f"{r.beside.median / fastest[(r.framework, r.net)]:.2f}x",
            ]
        )
    lines.append(
        table(
            [
                "framework",
                "net",
                "setting",
                "threads alone / beside",
                "alone (s)",
                "beside (s)",
                "slowdown",
                "beside / fastest alone",
            ],
            rows,
        )
    )
    lines += [f"skipped {line}" for line in result.skipped]
    return "\n".join(lines)


def finite(result: LoadResult) -> bool:
    return all(r.alone.finite() and r.beside.finite() for r in result.rows)


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.load``: the group alone (for a quick look)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.load")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--competitors", type=int, default=1)
    args: Any = parser.parse_args(argv)
    result = run(rounds=args.rounds, competitors=args.competitors, progress=print)
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
