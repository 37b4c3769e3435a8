"""Diagnostic: what the netspec module alone costs over the same network written with torch.nn.

Run ``python -m benchmarks.torch_module [--threads N] [--blocks B] [--steps S]``.
(Formerly ``backends/torch/_speed.py``, the torch backend's own check.) For LeNet-5
(batch 64) and the MLP 784-256-10 (batch 128) it times forward, cross-entropy and
backward, without the optimizer, of the :class:`NetspecModule` and of a hand-written
``torch.nn`` module holding the same weights, in rotating blocks, and a second copy of
the hand-written module, whose ratio to the first shows what the machine's noise alone
does. It also times the NumPy-facing ``loss_and_grads``, which adds the checks and the
copies. The suite's train-step group measures the whole fused step instead.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import netspec
from benchmarks.references.torch_nets import BUILDERS, load_netspec_params
from benchmarks.train_step import SPECS
from netspec.backends.torch import BACKEND
from netspec.ir.train import SoftmaxCrossEntropy


def _step(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        for p in module.parameters():
            p.grad = None
        F.cross_entropy(module(x), y).backward()

    return step


def _block(fn: Callable[[], None], steps: int, clock: Callable[[], float]) -> float:
    start = clock()
    for _ in range(steps):
        fn()
    return (clock() - start) / steps


def _spread(values: list[float]) -> str:
    """Median and interquartile range, as "1.002 [0.990, 1.015]"."""
    low, mid, high = statistics.quantiles(values, n=4)
    return f"{mid:.3f} [{low:.3f}, {high:.3f}]"


def compare(name: str, batch: int, blocks: int, steps: int, clock: Callable[[], float]) -> None:
    """Print median times of netspec and the hand-written net, and their ratios."""
    model = netspec.load(SPECS[name]).model()
    compiled = BACKEND.compile(model, seed=0)
    reference, twin = BUILDERS[name](), BUILDERS[name]()
    load_netspec_params(reference, compiled.parameters())
    load_netspec_params(twin, compiled.parameters())
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((batch, *model.input.shape), generator=generator)
    y = torch.randint(0, 10, (batch,), generator=generator)
    x_np, y_np = x.numpy(), y.numpy()
    compiled.module.train()
    reference.train()
    twin.train()
    ours, hand, hand2 = _step(compiled.module, x, y), _step(reference, x, y), _step(twin, x, y)

    def wrapper() -> None:
        compiled.loss_and_grads(x_np, y_np, SoftmaxCrossEntropy())

    order = [("netspec", ours), ("hand", hand), ("hand2", hand2), ("wrapper", wrapper)]
    for _, fn in order:
        _block(fn, steps, clock)  # warm-up: allocator, thread pool, oneDNN primitives
    times: dict[str, list[float]] = {key: [] for key, _ in order}
    for index in range(blocks):
        # Rotate the order so that no variant always runs right after another.
        shift = index % len(order)
        for key, fn in order[shift:] + order[:shift]:
            times[key].append(_block(fn, steps, clock))
    ms = {key: statistics.median(values) * 1e3 for key, values in times.items()}
    rounds = list(zip(times["netspec"], times["hand"], times["hand2"], strict=True))
    ratio = _spread([a / ((b + c) / 2) for a, b, c in rounds])
    noise = _spread([c / b for _, b, c in rounds])
    wrapped = _spread([w / h for w, h in zip(times["wrapper"], times["hand"], strict=True)])
    print(
        f"{name:8s} batch {batch:4d}: netspec module {ms['netspec']:7.3f} ms, "
        f"hand-written {ms['hand']:7.3f} / {ms['hand2']:7.3f} ms; "
        f"netspec / hand {ratio}; hand copy / hand {noise}; "
        f"loss_and_grads / hand {wrapped}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    parser.add_argument("--blocks", type=int, default=41)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: process time, steadier on a shared machine",
    )
    args = parser.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    np.random.seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, {args.clock} clock")
    compare("lenet5", 64, args.blocks, args.steps, clock)
    compare("mlp", 128, args.blocks, args.steps, clock)


if __name__ == "__main__":
    main()
