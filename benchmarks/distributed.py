"""Group distributed: an epoch of data-parallel training in 1 and in 2 processes.

``netspec.training.fit`` trains LeNet-5 (specs/lenet5.net's model, Adam, global batch
256) on synthetic MNIST-shaped images, once in this process and once with ``nproc=2``
(two workers started by torch's elastic agent, gloo on the CPU or NCCL with one GPU
each). The figure is the loop's own ``epoch_time`` of the second epoch (rank 0's: the
steps with their all-reduces and the statistics drains, without start-up, compilation,
evaluation or checkpoints); the wall time of the whole call, start-up of the workers
included, is reported beside it.

On the CPU the single process runs twice, with one torch thread and with as many as the
machine has cores; each of the two workers gets cores / 2 (``OMP_NUM_THREADS``, as the
launcher sets it), so that no side oversubscribes the machine. The speed-up is against
the first row.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import netspec
from benchmarks._timing import Spread, table
from netspec.data._arrays import ArrayData
from netspec.training import fit

SPEC = """netspec 1
model lenet5(x: [1, 28, 28]) {
    conv2d(6, 5, padding = 2) -> relu -> maxpool(2)
    conv2d(16, 5) -> relu -> maxpool(2)
    flatten
    dense(120) -> relu
    dense(84) -> relu
    dense(10)
}
train lenet5 {
    data       mnist
    loss       softmax_cross_entropy
    optimizer  adam(lr = 1e-3)
    batch_size 256
    epochs     2
    seed       0
}
"""


@dataclass
class DistRow:
    nproc: int
    device: str
    threads: int  # torch threads per process
    samples: int
    epoch: Spread  # seconds, the loop's epoch_time of the second epoch
    wall: Spread  # seconds, the whole fit() call

    @property
    def per_second(self) -> float:
        return self.samples / self.epoch.median


@dataclass
class DistResult:
    rows: list[DistRow] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _data(samples: int) -> ArrayData:
    rng = np.random.default_rng(0)
    x = rng.random((samples, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=samples)
    return ArrayData.parse((x, y))


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _one(nproc: int, device: str, threads: int, data: ArrayData) -> tuple[float, float]:
    from netspec.backends.torch._launch import environment_variable

    program = netspec.load(SPEC)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with _torch_threads(threads), environment_variable("OMP_NUM_THREADS", str(threads)):
            result = fit(
                program,
                backend="torch",
                device=device,
                data=data,
                out=Path(tmp) / "run",
                progress=False,
                nproc=nproc,
            )
        wall = time.perf_counter() - start
    return result.history[-1]["epoch_time"], wall


def run(
    *,
    rounds: int = 3,
    samples: int = 8192,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> DistResult:
    """1 and 2 processes, alternated ``rounds`` times."""
    result = DistResult()
    try:
        import torch
    except ImportError:
        result.skipped.append("torch is not installed")
        return result
    if device == "cuda" and torch.cuda.device_count() < 2:
        result.skipped.append(
            f"two processes on CUDA need two GPUs; torch sees {torch.cuda.device_count()}"
        )
        return result
    cores = os.cpu_count() or 1
    data = _data(samples)
    # (processes, torch threads each): on the CPU one process with one thread, with all
    # the cores, and two processes sharing them.
    sides = [(1, 1), (1, cores), (2, max(1, cores // 2))] if device == "cpu" else [(1, 1), (2, 1)]
    sides = list(dict.fromkeys(sides))
    times: dict[tuple[int, int], list[tuple[float, float]]] = {side: [] for side in sides}
    for index in range(rounds):
        for nproc, threads in sides:
            if progress:
                progress(f"distributed: {device}, {nproc} process(es) x {threads} thread(s), "
                         f"round {index + 1}")  # fmt: skip
            times[(nproc, threads)].append(_one(nproc, device, threads, data))
    for (nproc, threads), found in times.items():
        result.rows.append(
            DistRow(
                nproc=nproc,
                device=device,
                threads=threads,
                samples=samples,
                epoch=Spread.of([epoch for epoch, _ in found]),
                wall=Spread.of([wall for _, wall in found]),
            )
        )
    return result


def render(result: DistResult, title: str = "distributed") -> str:
    out = [f"### {title}: an epoch of LeNet-5 (global batch 256) in 1 and 2 processes", ""]
    if result.rows:
        base = result.rows[0].epoch.median
        rows = [
            [
                str(row.nproc),
                row.device,
                str(row.threads),
                str(row.samples),
                row.epoch.fmt(),
                f"{row.per_second:,.0f}",
                f"{base / row.epoch.median:.2f}x",
                row.wall.fmt(digits=1),
            ]
            for row in result.rows
        ]
        head = ["processes", "device", "threads each", "samples", "epoch s [q1, q3]",
                "samples/s", "speed-up", "whole call s"]  # fmt: skip
        out.append(table(head, rows))
    out += [f"skipped {line}" for line in result.skipped]
    return "\n".join(out)
