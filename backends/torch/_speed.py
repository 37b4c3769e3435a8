"""How much the netspec module costs over the same network written by hand with torch.nn.

Run ``python -m netspec.backends.torch._speed``. For LeNet-5 (batch 64) and an MLP
784-256-10 (batch 128) it times one training step (forward, cross-entropy, backward) of
the :class:`NetspecModule` and of a hand-written ``torch.nn`` module holding the same
weights, in interleaved blocks so that both see the same machine load, and prints the
median time per step and the ratio (netspec / hand-written). It also times the NumPy
wrapper's ``loss_and_grads`` on the same batch, which adds the checks and the copies.
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
from netspec.backends.torch import BACKEND
from netspec.ir.train import SoftmaxCrossEntropy

LENET5 = """netspec 1
model lenet5(x: [1, 28, 28]) {
    conv2d(6, 5, padding = 2) -> relu -> maxpool(2)
    conv2d(16, 5) -> relu -> maxpool(2)
    flatten
    dense(120) -> relu
    dense(84) -> relu
    dense(10)
}
"""
MLP = """netspec 1
model mlp(x: [784]) {
    dense(256) -> relu
    dense(10, init = xavier_uniform)
}
"""


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


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


def compare(
    name: str,
    text: str,
    make_reference: Callable[[], nn.Module],
    batch: int,
    blocks: int,
    steps: int,
    clock: Callable[[], float],
) -> None:
    """Print median step times of netspec and the hand-written net, and their ratio.

    A second copy of the hand-written net is timed too: its ratio to the first shows
    how much of a difference the machine's noise alone makes.
    """
    reference, twin = make_reference(), make_reference()
    model = netspec.load(text).model()
    compiled = BACKEND.compile(model, seed=0)
    with torch.no_grad():
        for mine, theirs in zip(compiled.module.parameters(), reference.parameters(), strict=True):
            theirs.copy_(mine)
        for mine, theirs in zip(reference.parameters(), twin.parameters(), strict=True):
            theirs.copy_(mine)
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
    # Ratios within each round cancel slow drifts of the machine's load; netspec is held
    # against the mean of the two identical hand-written copies, whose own ratio shows
    # what noise alone does.
    rounds = list(zip(times["netspec"], times["hand"], times["hand2"], strict=True))
    ratio = _spread([ours / ((a + b) / 2) for ours, a, b in rounds])
    noise = _spread([b / a for _, a, b in rounds])
    print(
        f"{name:8s} batch {batch:4d}: netspec {ms['netspec']:7.3f} ms, "
        f"hand-written {ms['hand']:7.3f} / {ms['hand2']:7.3f} ms; "
        f"netspec / hand {ratio}; hand copy / hand {noise}; "
        f"wrapper loss_and_grads / hand {ms['wrapper'] / ms['hand']:.3f}"
    )


def _spread(values: list[float]) -> str:
    """Median and interquartile range, as "1.002 [0.990, 1.015]"."""
    low, mid, high = statistics.quantiles(values, n=4)
    return f"{mid:.3f} [{low:.3f}, {high:.3f}]"


def main() -> None:
    """Command-line entry: ``--threads``, ``--blocks``, ``--steps``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--blocks", type=int, default=41)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cpu: process time, steadier on a shared machine (use with --threads 1)",
    )
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    np.random.seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, {args.clock} clock")
    compare("lenet5", LENET5, LeNet5, 64, args.blocks, args.steps, clock)
    compare("mlp", MLP, _mlp, 128, args.blocks, args.steps, clock)


if __name__ == "__main__":
    main()
