"""Group recurrent: netspec's LSTM training step against the same network by hand.

The network is ``specs/lstm_row_mnist.net`` (MNIST rows as 28 steps of 28 features,
LSTM(128), dense(10)) at batch 128, float32. For each framework, netspec's
``compiled.train_step(loss, Sgd(lr), None).step(x, y, lr)`` (drained once per block) is
alternated with the hand-written step of :mod:`benchmarks.references.recurrent_nets`
started from netspec's initial weights: ``torch.nn.LSTM`` (goal: netspec at most 10%
slower), a ``lax.scan`` LSTM in JAX (the same goal) and the textbook's per-time-step
NumPy LSTM (goal: netspec's NumPy backend at least twice as fast). Before timing, the
two sides' outputs on the batch are compared, so that a row never compares two
different networks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import netspec
from benchmarks._timing import Pair, alternate, table
from netspec.backend import get_backend
from netspec.ir.train import Sgd, SoftmaxCrossEntropy

SPEC = Path(__file__).resolve().parents[1] / "specs" / "lstm_row_mnist.net"
BATCH = 128
LR = 1e-3
# numpy-float32: the NumPy backend against the textbook in its own dtype (no goal: the
# two spend most of their time in the same per-step products).
FRAMEWORKS = ("torch", "jax", "numpy", "numpy-float32")
REFERENCE = {
    "torch": "torch.nn.LSTM + nn.Linear + torch.optim.SGD",
    "jax": "lax.scan LSTM, jax.value_and_grad, jitted SGD",
    "numpy": "textbook per-step LSTM (CS231n), float64",
    "numpy-float32": "textbook per-step LSTM (CS231n), float32",
}
# Goals: PyTorch / JAX at most 10% over hand-written; NumPy at least 2x the textbook.
RATIO_GOAL = 1.10
NUMPY_SPEEDUP_GOAL = 2.0


@dataclass
class Case:
    framework: str
    step: Pair  # a = netspec, b = reference; seconds per step
    max_output_diff: float

    def goal(self) -> tuple[str, bool | None]:
        ratio = self.step.ratio.median
        if self.framework == "numpy-float32":
            return "none (same dtype, for reading)", None
        if self.framework == "numpy":
            return f"speed-up >= {NUMPY_SPEEDUP_GOAL:g}x", 1 / ratio >= NUMPY_SPEEDUP_GOAL
        return f"ratio <= {RATIO_GOAL}", ratio <= RATIO_GOAL


@dataclass
class Result:
    cases: list[Case] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def run_case(framework: str, *, rounds: int, block_s: float, batch: int = BATCH) -> Case:
    """One row: netspec's step against the hand-written one, with a twin for noise."""
    from benchmarks.references import recurrent_nets

    model = netspec.load(SPEC).model()
    compiled = get_backend(framework.partition("-")[0]).compile(model, seed=0, dtype="float32")
    step = compiled.train_step(SoftmaxCrossEntropy(), Sgd(lr=LR), None)
    params = compiled.parameters()
    ref_step, ref_sync, ref_predict = recurrent_nets.BUILDERS[framework](params, LR)
    twin_step, twin_sync, _ = recurrent_nets.BUILDERS[framework](params, LR)
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (batch, *model.input.shape)).astype(np.float32)
    y = rng.integers(0, 10, batch).astype(np.int64)
    diff = float(np.max(np.abs(compiled.forward(x) - ref_predict(x))))
    if not diff < 1e-3:
        raise AssertionError(f"{framework} LSTM: netspec and the reference differ by {diff}")

    def ours(n: int) -> None:
        for _ in range(n):
            step.step(x, y, LR)
        step.drain()

    def theirs(n: int) -> None:
        for _ in range(n):
            ref_step(x, y)
        ref_sync()

    def twins(n: int) -> None:
        for _ in range(n):
            twin_step(x, y)
        twin_sync()

    pair = alternate(ours, theirs, rounds=rounds, block_s=block_s, twin=twins)
    return Case(framework, pair, diff)


def run(
    *,
    rounds: int = 21,
    block_s: float = 0.2,
    frameworks: tuple[str, ...] = FRAMEWORKS,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """Every framework; one that is not installed is listed as skipped."""
    result = Result()
    for framework in frameworks:
        if not framework.startswith("numpy"):
            try:
                __import__(framework)
            except ImportError:
                result.skipped.append(f"{framework}: not installed")
                continue
        if progress:
            progress(f"recurrent: {framework} LSTM")
        result.cases.append(run_case(framework, rounds=rounds, block_s=block_s))
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def render(result: Result) -> str:
    rows = []
    for case in result.cases:
        goal, met = case.goal()
        pair = case.step
        rows.append(
            [
                case.framework,
                REFERENCE[case.framework],
                f"{_ms(pair.a.median)} [{_ms(pair.a.q1)}, {_ms(pair.a.q3)}]",
                f"{_ms(pair.b.median)} [{_ms(pair.b.q1)}, {_ms(pair.b.q3)}]",
                pair.ratio.fmt(),
                pair.noise.fmt() if pair.noise else "-",
                f"{1 / pair.ratio.median:.2f}x",
                goal if met is None else f"{goal}: {'met' if met else 'NOT met'}",
            ]
        )
    out = [
        f"### recurrent: LSTM(128) on 28 x 28 rows, batch {BATCH}, training step "
        "(forward + backward + SGD update), ms per step",
        "",
        "median [interquartile range] over rotating blocks; ratio = netspec / hand-written "
        "per round; noise floor = a second copy of the hand-written step / the first.",
        "",
        table(
            [
                "framework",
                "hand-written reference",
                "netspec ms",
                "reference ms",
                "ratio",
                "noise floor",
                "netspec speed-up",
                "goal",
            ],
            rows,
        ),
    ]
    if result.cases:
        out += [
            "",
            "steps per block / rounds: "
            + "; ".join(f"{c.framework} {c.step.calls}/{c.step.rounds}" for c in result.cases),
        ]
    out += [f"- skipped {line}" for line in result.skipped]
    return "\n".join(out)
