"""K-fold cross-validation: one run per fold under a parent directory, and their summary.

Fold k of K holds out the k-th of K seeded folds of the training split as its validation
split (``netspec.data.load_dataset``); each fold trains from the same settings and seed
in its own run directory ``PARENT/fold-k``. ``PARENT/folds.json`` holds every fold's
final metrics with their mean and standard deviation, rewritten after each fold.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netspec.errors import NetspecError
from netspec.ir import Program
from netspec.training import rundir
from netspec.training.loop import TrainResult, fit

SUMMARY_FILE = "folds.json"


def fold_dir(parent: Path, index: int) -> Path:
    """The run directory of fold ``index`` (1-based) under ``parent``."""
    return parent / f"fold-{index}"


def check_folds(folds: object, option: str = "folds") -> int:
    """``folds`` as an integer >= 2, or a NetspecError saying what it takes."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise NetspecError(
            f"{option} must be an integer >= 2 (the number of folds), found {folds!r}"
        )
    return folds


@dataclass
class Spread:
    """One metric over the folds: each fold's final value, their mean and standard
    deviation (the sample one, over K - 1; 0 for values that are all equal)."""

    values: list[float]
    mean: float
    std: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        """The spread of ``values`` (at least one)."""
        mean = math.fsum(values) / len(values)
        var = math.fsum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)
        return cls(values=list(values), mean=mean, std=math.sqrt(var))


@dataclass
class CrossValidation:
    """What :func:`cross_validate` returns: each fold's result, the parent directory and
    the spread of every final metric the folds share (``val_loss``, ``val_accuracy``, ...)."""

    folds: list[TrainResult]
    run_dir: Path
    metrics: dict[str, Spread] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The JSON form written to ``folds.json``."""
        return {
            "folds": len(self.folds),
            "runs": [result.run_dir.name for result in self.folds],
            "final": [result.final for result in self.folds],
            "mean": {name: spread.mean for name, spread in self.metrics.items()},
            "std": {name: spread.std for name, spread in self.metrics.items()},
        }


def spreads(finals: list[dict[str, float | None]]) -> dict[str, Spread]:
    """The spread of each metric that every fold measured, in the first fold's order."""
    names = [k for k, v in finals[0].items() if v is not None] if finals else []
    shared = [n for n in names if all(final.get(n) is not None for final in finals)]
    return {n: Spread.of([float(final[n]) for final in finals]) for n in shared}  # type: ignore[arg-type]


def cross_validate(
    program: Program,
    *,
    folds: int,
    out: str | os.PathLike[str] | None = None,
    model: str | None = None,
    on_fold: Callable[[int, TrainResult], None] | None = None,
    **options: Any,
) -> CrossValidation:
    """Train ``folds`` times, fold k of ``folds`` as the validation split of run k.

    ``out`` is the parent directory (default ``runs/<model>-<time>``), which must hold no
    folds yet; each fold's run is ``out/fold-k``. ``options`` are those of
    :func:`netspec.training.fit` but ``resume`` and ``fold``; ``on_fold`` is called after
    each fold with its number and result. The final metrics of the folds and their mean
    and standard deviation are written to ``out/folds.json`` after each fold.
    """
    check_folds(folds)
    for name in ("resume", "fold"):
        if options.get(name) is not None:
            raise NetspecError(
                f"{name} cannot be combined with folds: each fold is a new run under one "
                "parent directory"
            )
        options.pop(name, None)
    checked = program.model(model)
    parent = _parent(out, checked.name)
    results: list[TrainResult] = []
    for index in range(1, folds + 1):
        result = fit(
            program, model=model, out=fold_dir(parent, index), fold=(index, folds), **options
        )
        results.append(result)
        outcome = CrossValidation(results, parent, spreads([r.final for r in results]))
        rundir.write_json(parent / SUMMARY_FILE, outcome.summary())
        if on_fold is not None:
            on_fold(index, result)
    return CrossValidation(results, parent, spreads([r.final for r in results]))


def _parent(out: str | os.PathLike[str] | None, model: str) -> Path:
    """The parent directory of the folds: ``out`` (new, or holding no folds yet), or a new
    default one."""
    if out is None:
        return rundir.default_run_dir(model)
    parent = rundir.require_path(out, "--out")
    rundir.check_new_location(parent)
    if parent.is_dir():
        taken = sorted(
            p.name for p in parent.iterdir() if p.name.startswith("fold-") or p.name == SUMMARY_FILE
        )
        if taken:
            raise NetspecError(
                f"--out {parent} already holds cross-validation runs ({', '.join(taken[:5])}); "
                "choose a new directory for the folds"
            )
    with rundir.guarded("create the run directory", parent):
        parent.mkdir(parents=True, exist_ok=True)
    return parent


def describe(metrics: dict[str, Spread], split: str = "val") -> str:
    """``validation loss 0.1234 ± 0.0100, accuracy 96.50% ± 0.40%`` for one split."""
    parts = []
    for name, spread in metrics.items():
        if not name.startswith(f"{split}_"):
            continue
        metric = name[len(split) + 1 :]
        if metric == "accuracy":
            parts.append(f"accuracy {spread.mean * 100:.2f}% ± {spread.std * 100:.2f}%")
        else:
            parts.append(f"{metric} {spread.mean:.4f} ± {spread.std:.4f}")
    label = {"val": "validation", "test": "test"}.get(split, split)
    return f"{label} {', '.join(parts)}" if parts else ""


def fold_line(final: dict[str, float | None]) -> str:
    """``validation loss 0.1234, accuracy 96.50%``: one fold's final validation metrics."""
    parts = [
        f"{name[4:]} {_figure(name, value)}"
        for name, value in final.items()
        if name.startswith("val_") and value is not None
    ]
    return f"validation {', '.join(parts)}" if parts else "no validation metrics"


def table(outcome: CrossValidation) -> str:
    """Each fold's final metrics as a table, with a mean ± std row."""
    names = list(outcome.metrics)
    rows = [
        [str(i), *(_figure(n, result.final.get(n)) for n in names)]
        for i, result in enumerate(outcome.folds, start=1)
    ]
    rows.append(
        ["mean ± std"]
        + [f"{_figure(n, s.mean)} ± {_figure(n, s.std)}" for n, s in outcome.metrics.items()]
    )
    header = ["fold", *names]
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, ["-" * w for w in widths], *rows]]  # fmt: skip
    return "\n".join(lines)


def _figure(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.2f}%" if name.endswith("accuracy") else f"{value:.4f}"
