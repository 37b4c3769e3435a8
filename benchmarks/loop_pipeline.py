"""The loop group's input-pipeline rows: batches made in a thread against on the main
thread, and evaluation every epoch against only at the end.

Prefetch: one epoch of ``netspec.training.fit`` with ``prefetch=True`` and with
``prefetch=False``, alternated round by round (which runs first alternates too); the
figure is the loop's own ``epoch_time`` (batching, augmentation, steps, drains), and
each round's ratio on / off. Cases: the MNIST MLP (specs/mlp.net, no augmentation) and
LeNet-5 (specs/lenet5.net) with ``augment = [random_crop(padding = 2),
random_rotate(10)]``, on every backend. ``auto`` says what fit chooses by itself
(netspec.data.prefetch.prefetch_pays).

Evaluation: three epochs of the MLP with the validation and the 10,000-image test
split evaluated every epoch (the default) against ``eval_every = 3`` with
``test_at_end`` (both only after the last epoch); the figure is the three epochs' wall
time from inside the loop (the evaluation included, loading and compiling not), and
each round's ratio.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import netspec
from benchmarks._timing import Spread, table
from netspec.data.prefetch import prefetch_pays
from netspec.training import epochs
from netspec.training import loop as loop_module

ROOT = Path(__file__).resolve().parents[1]
AUGMENT = "augment = [random_crop(padding = 2), random_rotate(10)]"
# (label, spec, data source, images before the hold-out, augmented)
CASES = (
    ("MLP", "mlp.net", "mnist(flatten = true, validation = 0.1, limit = {n})", 12000, False),
    ("LeNet-5 + augment", "lenet5.net", f"mnist(validation = 0.1, limit = {{n}}, {AUGMENT})",
     3000, True),
)  # fmt: skip
EVAL_EPOCHS = 3


@dataclass
class PrefetchRow:
    case: str
    backend: str
    batches: int
    serial: Spread  # epoch_time, seconds, batches made on the main thread
    threaded: Spread  # epoch_time with the prefetch thread
    ratio: Spread  # threaded / serial per round
    auto: bool  # what fit chooses without the option


@dataclass
class EvalRow:
    backend: str
    every_epoch: Spread  # seconds for EVAL_EPOCHS epochs, evaluating each
    at_end: Spread  # eval_every = EVAL_EPOCHS, test_at_end
    ratio: Spread  # at_end / every_epoch per round


@dataclass
class PipelineResult:
    prefetch: list[PrefetchRow] = field(default_factory=list)
    evaluation: list[EvalRow] = field(default_factory=list)


@contextlib.contextmanager
def _quiet_fit(sink: list[float]) -> Iterator[None]:
    """Each epoch's wall time into ``sink``; the dataset loaded once per source and no
    learning-curve plot, to keep the group short (both outside the timed epochs)."""
    original, load = epochs.EpochLoop._epoch, loop_module.load_dataset
    plot = loop_module.rundir.plot_curves
    cache: dict[str, Any] = {}

    def timed(self: Any, epoch: int) -> None:
        start = time.perf_counter()
        original(self, epoch)
        sink.append(time.perf_counter() - start)

    def cached(spec: Any, **kwargs: Any) -> Any:
        key = spec.model_dump_json() + repr(sorted(kwargs.items()))
        if key not in cache:
            cache[key] = load(spec, **kwargs)
        return cache[key]

    epochs.EpochLoop._epoch = timed  # type: ignore[method-assign]
    loop_module.load_dataset = cached
    loop_module.rundir.plot_curves = lambda *args, **kwargs: None
    try:
        yield
    finally:
        epochs.EpochLoop._epoch = original  # type: ignore[method-assign]
        loop_module.load_dataset, loop_module.rundir.plot_curves = load, plot


def run(
    *,
    rounds: int = 7,
    backends: tuple[str, ...] = ("numpy", "torch", "jax"),
    data_dir: str,
    scale: float = 1.0,
    progress: Callable[[str], None] | None = None,
) -> PipelineResult:
    """The prefetch and evaluation rows; ``scale`` shrinks the data (a quick run)."""
    result = PipelineResult()
    with tempfile.TemporaryDirectory() as tmp, _quiet_fit(walls := []):
        count = 0

        def fit(program: Any, **options: Any) -> dict[str, Any]:
            nonlocal count
            count += 1
            walls.clear()
            trained = loop_module.fit(
                program, data_dir=data_dir, out=Path(tmp) / f"run{count}", progress=False,
                **options,
            )  # fmt: skip
            return {"history": trained.history, "wall": sum(walls)}

        for label, spec, source, images, augmented in CASES:
            program = netspec.load(ROOT / "specs" / spec)
            data = source.format(n=max(100, int(images * scale)))
            for backend in backends:
                if progress:
                    progress(f"loop: prefetch, {label}, {backend}")
                fit(program, backend=backend, epochs=1, data=data)  # warm-up (jax compiles)
                times: dict[bool, list[float]] = {True: [], False: []}
                for index in range(rounds):
                    for prefetch in (True, False) if index % 2 == 0 else (False, True):
                        row = fit(program, backend=backend, epochs=1, data=data, prefetch=prefetch)
                        times[prefetch].append(row["history"][-1]["epoch_time"])
                batches = row["history"][-1]["step"]
                result.prefetch.append(
                    PrefetchRow(
                        label, backend, batches, Spread.of(times[False]), Spread.of(times[True]),
                        Spread.of([a / b for a, b in zip(times[True], times[False], strict=True)]),
                        prefetch_pays(augmented, backend),
                    )
                )  # fmt: skip
        program = netspec.load(ROOT / "specs" / "mlp.net")
        data = CASES[0][2].format(n=max(100, int(CASES[0][3] * scale)))
        for backend in backends:
            if progress:
                progress(f"loop: evaluation schedule, {backend}")
            fit(program, backend=backend, epochs=1, data=data)  # warm-up
            walls_by: dict[bool, list[float]] = {True: [], False: []}
            for index in range(rounds):
                for at_end in (True, False) if index % 2 == 0 else (False, True):
                    schedule = {"eval_every": EVAL_EPOCHS, "test_at_end": True} if at_end else {}
                    row = fit(program, backend=backend, epochs=EVAL_EPOCHS, data=data, **schedule)
                    walls_by[at_end].append(row["wall"])
            ratios = [a / b for a, b in zip(walls_by[True], walls_by[False], strict=True)]
            result.evaluation.append(
                EvalRow(
                    backend, Spread.of(walls_by[False]), Spread.of(walls_by[True]),
                    Spread.of(ratios),
                )
            )  # fmt: skip
    return result


def finite(result: PipelineResult) -> bool:
    """Every figure is a number (a broken run would leave NaN)."""
    return all(
        r.serial.finite() and r.threaded.finite() and r.ratio.finite() for r in result.prefetch
    ) and all(r.every_epoch.finite() and r.at_end.finite() for r in result.evaluation)


def render(result: PipelineResult) -> str:
    prefetch = [
        [
            r.case, r.backend, str(r.batches), r.serial.fmt(), r.threaded.fmt(), r.ratio.fmt(),
            "thread" if r.auto else "main thread",
        ]
        for r in result.prefetch
    ]  # fmt: skip
    evaluation = [
        [r.backend, r.every_epoch.fmt(), r.at_end.fmt(), r.ratio.fmt()] for r in result.evaluation
    ]
    return "\n".join(
        [
            "### loop: batches made in a prefetch thread against on the main thread",
            "",
            "the loop's epoch_time in seconds, median [IQR] over rounds, and the median [IQR] "
            "of each round's ratio thread / main thread (below 1: the thread saves time); "
            "`auto` is what fit chooses without the option.",
            "",
            table(
                ["case", "backend", "batches", "main thread (s)", "thread (s)", "ratio", "auto"],
                prefetch,
            ),
            "",
            f"### loop: {EVAL_EPOCHS} epochs of the MLP evaluating every epoch against "
            "only at the end",
            "",
            "seconds for the epochs (evaluation included), median [IQR]; ratio: at the end / "
            f"every epoch, per round (`--eval-every {EVAL_EPOCHS} --test-at-end`).",
            "",
            table(["backend", "every epoch (s)", "at the end (s)", "ratio"], evaluation),
        ]
    )
