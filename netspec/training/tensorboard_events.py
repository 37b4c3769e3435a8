"""Each epoch's metrics as TensorBoard scalars in RUN_DIR/tensorboard/ (the tensorboard
extra's own event-file writer, which needs neither torch nor TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netspec.errors import NetspecError

DIRECTORY = "tensorboard"
# The averaged weights' figures (ema) first: they are a split of their own.
_SPLITS = ("val_ema_", "test_ema_", "train_", "val_", "test_")
# Row entries that are counters, not measurements.
_SKIPPED = ("epoch", "step")


def tag(key: str) -> str:
    """The TensorBoard tag of a metrics row key: ``val_loss`` -> ``val/loss``,
    ``val_ema_loss`` -> ``val_ema/loss``, so that TensorBoard groups each split's
    figures; other keys (``lr``) as they are."""
    for prefix in _SPLITS:
        if key.startswith(prefix):
            return f"{prefix[:-1]}/{key[len(prefix) :]}"
    return key


def require() -> None:
    """Refuse TensorBoard logging, before anything is written, without the extra."""
    try:
        import tensorboard.summary  # noqa: F401
    except ImportError:
        raise NetspecError(
            "TensorBoard logging needs the tensorboard extra: pip install 'netspec[tensorboard]'"
        ) from None


class EventLog:
    """Appends each epoch's row to an event file of RUN_DIR/tensorboard/ (a resumed run
    adds a file; TensorBoard reads them as one run)."""

    def __init__(self, run_dir: Path) -> None:
        require()
        from tensorboard.summary import Writer

        self.directory = run_dir / DIRECTORY
        try:
            self.writer = Writer(str(self.directory))
        except OSError as error:
            raise NetspecError(
                f"cannot write {self.directory}: {error.strerror or error}"
            ) from None

    def write(self, row: dict[str, Any]) -> None:
        """The row's numbers as scalars at step = its epoch, flushed to disk."""
        epoch = int(row["epoch"])
        for key, value in row.items():
            if key in _SKIPPED or value is None or isinstance(value, bool):
                continue
            self.writer.add_scalar(tag(key), float(value), epoch)
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()
