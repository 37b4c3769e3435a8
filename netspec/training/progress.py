"""Progress: a live bar on a terminal (rich), one plain line per epoch otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from netspec.training.metrics import describe


def format_metrics(row: dict[str, Any]) -> str:
    parts = []
    # val_ema and test_ema: the moving average of the weights (a train section's ema).
    for split in ("train", "val", "test", "val_ema", "test_ema"):
        loss = row.get(f"{split}_loss")
        if loss is None:
            continue
        text = f"{split} loss {loss:.4f}"
        accuracy = row.get(f"{split}_accuracy")
        if accuracy is not None:
            text += f" acc {accuracy * 100:.2f}%"
        parts.append(text + describe(row, split, short=True))
    parts.append(f"lr {row['lr']:.3g}")
    seconds = row["epoch_time"]
    elapsed = f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    parts.append(f"{elapsed} ({row['samples_per_second']:,.0f} samples/s)")
    return "  ".join(parts)


class Progress:
    """Reports batches and epochs; ``enabled=False`` is silent."""

    def __init__(
        self, epochs: int, batches: int, *, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.epochs = epochs
        self.batches = batches
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self._live: Any = None
        self._task: Any = None
        self._epoch_start = time.perf_counter()
        if enabled and self.stream.isatty():
            try:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    TextColumn,
                    TimeRemainingColumn,
                )
                from rich.progress import Progress as RichProgress
            except ImportError:
                return
            self._live = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self._live.start()

    def start_epoch(self, epoch: int) -> None:
        self._epoch_start = time.perf_counter()
        if self._live is not None:
            if self._task is not None:
                self._live.remove_task(self._task)
            self._task = self._live.add_task(
                f"epoch {epoch + 1}/{self.epochs}", total=self.batches, status=""
            )

    def update(self, done: int, samples: int, loss: float | None) -> None:
        if self._live is None or self._task is None:
            return
        elapsed = max(time.perf_counter() - self._epoch_start, 1e-9)
        status = f"{samples / elapsed:,.0f} samples/s"
        if loss is not None:
            status = f"loss {loss:.4f}  " + status
        self._live.update(self._task, completed=done, status=status)

    def end_epoch(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        line = f"epoch {row['epoch']}/{self.epochs}  {format_metrics(row)}"
        if self._live is not None:
            self._live.console.print(line)
        else:
            print(line, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self._live is not None:
            self._live.console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
