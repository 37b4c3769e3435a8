"""Group loop: what the shared training loop costs on top of the steps it runs.

``netspec.training.fit`` (what ``netspec train`` runs) trains the MNIST MLP of
specs/mlp.net for one epoch over a subset of the training images. The epoch is timed
from the inside, by wrapping the loop's per-epoch method, so that data loading,
compilation and the run directory's set-up stay out of it; the epoch then covers
shuffled batching, the steps, the statistics drains and the progress bookkeeping, then
the evaluation of the validation and test splits, the checkpoint and the metrics file.
Alternated with it, the same steps (a fresh model, the same optimizer and learning
rate, the same batches made beforehand) run back to back and are timed directly. The
loop's overhead is (epoch - steps) / steps, split into its parts.

MNIST is read from ``$NETSPEC_DATA_DIR`` (or ``data_dir``); without it the group is
skipped, saying so. Outside the timed epoch, and only to keep the group short, the
harness hands fit() the dataset it already loaded (same arguments, same arrays) and
skips the learning-curve plot that fit() draws at the end.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import netspec
from benchmarks._timing import Spread, table
from netspec.backend import get_backend
from netspec.data import batches, load_dataset
from netspec.training import epochs
from netspec.training import loop as loop_module
from netspec.training.options import apply_overrides
from netspec.training.schedule import learning_rate

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "mlp.net"
OVERHEAD_GOAL = 0.10


@dataclass
class LoopRow:
    backend: str
    limit: int  # training images before the validation hold-out (0: all)
    train_samples: int
    eval_samples: int
    epoch: Spread  # whole epoch (seconds)
    train_phase: Spread  # the loop's own epoch_time: batches and steps only
    evaluation: Spread  # evaluate() on the validation and test splits
    checkpoint: Spread  # save_checkpoint() (weights, optimizer state, loop state)
    steps: Spread  # the same steps, run directly
    ratio: Spread  # whole epoch / steps, per round (the pair run side by side)
    train_ratio: Spread  # training phase / steps, per round

    @property
    def overhead(self) -> float:
        return self.ratio.median - 1

    @property
    def train_overhead(self) -> float:
        return self.train_ratio.median - 1


@dataclass
class LoopResult:
    rows: list[LoopRow] = field(default_factory=list)
    skipped: str | None = None
    data_dir: str | None = None


_DATASETS: dict[tuple[str, str | None, str], Any] = {}


@contextlib.contextmanager
def _instrumented(sink: list[dict[str, float]]) -> Iterator[None]:
    """For every epoch fit() runs, record its whole time, the loop's own epoch_time,
    and the time spent in evaluate() and save_checkpoint() during it."""
    original = epochs.EpochLoop._epoch
    evaluate, checkpoint = epochs.evaluate, epochs.save_checkpoint
    load, plot = loop_module.load_dataset, loop_module.rundir.plot_curves
    parts = {"evaluation": 0.0, "checkpoint": 0.0}

    def timed_epoch(self: Any, epoch: int) -> None:
        parts.update(evaluation=0.0, checkpoint=0.0)
        start = time.perf_counter()
        original(self, epoch)
        whole = time.perf_counter() - start
        sink.append({"epoch": whole, "train": self.state.history[-1]["epoch_time"], **parts})

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                parts[name] += time.perf_counter() - start

        return wrapper

    def cached_load(spec: Any, **kwargs: Any) -> Any:
        key = (spec.model_dump_json(), kwargs.get("data_dir"), repr(sorted(kwargs.items())))
        if key not in _DATASETS:
            _DATASETS[key] = load(spec, **kwargs)
        return _DATASETS[key]

    epochs.EpochLoop._epoch = timed_epoch  # type: ignore[method-assign]
    epochs.evaluate = timed("evaluation", evaluate)
    epochs.save_checkpoint = timed("checkpoint", checkpoint)
    loop_module.load_dataset = cached_load
    loop_module.rundir.plot_curves = lambda *args, **kwargs: None
    try:
        yield
    finally:
        epochs.EpochLoop._epoch = original  # type: ignore[method-assign]
        epochs.evaluate, epochs.save_checkpoint = evaluate, checkpoint
        loop_module.load_dataset, loop_module.rundir.plot_curves = load, plot


def data_source(limit: int) -> str:
    return f"mnist(flatten = true, validation = 0.1, limit = {limit})"


def _direct(
    program: Any, backend: str, source: str, data_dir: str | None
) -> tuple[Callable[[], float], int, int]:
    """A function timing the epoch's steps run directly; train and eval sample counts."""
    checked = program.model()
    spec = apply_overrides(program.train(checked.name), epochs=1, data=source)
    dataset = load_dataset(
        spec.data,
        input_shape=checked.input.shape,
        output_shape=checked.output_type.shape,
        loss_kind=spec.loss.kind,
        seed=spec.seed,
        data_dir=data_dir,
    )
    made = list(batches(dataset.train, spec.batch_size, shuffle=True, seed=spec.seed, epoch=0))
    rate = learning_rate(spec.schedule, spec.optimizer.lr, 0)
    evaluated = sum(len(s) for s in (dataset.validation, dataset.test) if s is not None)

    def run() -> float:
        compiled = get_backend(backend).compile(checked, seed=spec.seed)
        step = compiled.train_step(spec.loss, spec.optimizer, spec.clip)
        x, y = made[0]
        step.step(x, y, rate)  # the first call compiles (jax) or allocates: not timed
        step.drain()
        start = time.perf_counter()
        for x, y in made:
            step.step(x, y, rate)
        step.drain()
        return time.perf_counter() - start

    return run, len(dataset.train), evaluated


def run(
    *,
    rounds: int = 3,
    limits: tuple[int, ...] = (20000,),
    backends: tuple[str, ...] = ("numpy", "torch", "jax"),
    data_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoopResult:
    data_dir = data_dir or os.environ.get("NETSPEC_DATA_DIR")
    result = LoopResult(data_dir=data_dir)
    if not data_dir:
        result.skipped = "NETSPEC_DATA_DIR is not set (point it at a folder holding mnist/)"
        return result
    program = netspec.load(SPEC)
    for limit in limits:
        source = data_source(limit)
        for backend in backends:
            if progress:
                progress(f"loop: {backend}, {limit or 'all'} images")
            direct, n_train, n_eval = _direct(program, backend, source, data_dir)
            epochs: list[dict[str, float]] = []
            steps: list[float] = []
            with tempfile.TemporaryDirectory() as tmp:
                # Warm-up, untimed: JAX compiles the step and the evaluation's forward
                # once per process (its programs are shared by every model of the spec).
                direct()
                with _instrumented([]):
                    loop_module.fit(
                        program,
                        backend=backend,
                        epochs=1,
                        data=source,
                        data_dir=data_dir,
                        out=Path(tmp) / "warm-up",
                        progress=False,
                        spec_path=str(SPEC),
                    )
                for index in range(rounds):
                    # Alternate which runs first, as the other groups do.
                    order = ("fit", "steps") if index % 2 == 0 else ("steps", "fit")
                    for what in order:
                        if what == "steps":
                            steps.append(direct())
                            continue
                        with _instrumented(epochs):
                            loop_module.fit(
                                program,
                                backend=backend,
                                epochs=1,
                                data=source,
                                data_dir=data_dir,
                                out=Path(tmp) / f"run{index}",
                                progress=False,
                                spec_path=str(SPEC),
                            )
            result.rows.append(
                LoopRow(
                    backend,
                    limit,
                    n_train,
                    n_eval,
                    *(
                        Spread.of([e[k] for e in epochs])
                        for k in ("epoch", "train", "evaluation", "checkpoint")
                    ),
                    Spread.of(steps),
                    Spread.of([e["epoch"] / t for e, t in zip(epochs, steps, strict=True)]),
                    Spread.of([e["train"] / t for e, t in zip(epochs, steps, strict=True)]),
                )
            )
    return result


def render(result: LoopResult) -> str:
    title = "### loop: one epoch of fit() on the MNIST MLP against its steps run directly"
    if result.skipped:
        return f"{title}\n\nskipped: {result.skipped}"
    rows = []
    for r in result.rows:
        verdict = "met" if r.overhead < OVERHEAD_GOAL else "NOT met"
        rows.append(
            [
                r.backend,
                f"{r.train_samples} train / {r.eval_samples} evaluated",
                f"{r.steps.median:.3f}",
                f"{r.train_phase.median:.3f} ({r.train_overhead:+.1%})",
                f"{r.evaluation.median:.3f} ({r.evaluation.median / r.steps.median:+.1%})",
                f"{r.checkpoint.median:.3f} ({r.checkpoint.median / r.steps.median:+.1%})",
                f"{r.epoch.median:.3f}",
                f"{r.overhead:+.1%} [{r.ratio.q1 - 1:+.1%}, {r.ratio.q3 - 1:+.1%}] ({verdict})",
            ]
        )
    return "\n".join(
        [
            title,
            "",
            "seconds, medians (percentages relative to the steps run directly; the overheads "
            "are medians [IQR] of each round's epoch / steps); the epoch = "
            "the loop's training phase (shuffled batching, steps, statistics drains: its "
            "epoch_time) + evaluation of the validation and test splits + checkpoint + the "
            f"metrics file. Goal: overhead < {OVERHEAD_GOAL:.0%}.",
            "",
            table(
                [
                    "backend",
                    "samples",
                    "steps run directly",
                    "loop's training phase",
                    "evaluation",
                    "checkpoint",
                    "whole epoch",
                    "loop overhead",
                ],
                rows,
            ),
        ]
    )


def finite(result: LoopResult) -> bool:
    return all(
        r.epoch.finite()
        and r.steps.finite()
        and r.evaluation.finite()
        and math.isfinite(r.overhead)
        for r in result.rows
    )
