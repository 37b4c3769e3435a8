"""The run directory: what a training run leaves behind, all written atomically.

runs/<model>-<YYYYmmdd-HHMMSS>/
    .netspec.lock         the lock of the run in progress (see lock.py)
    run.json              versions, seed, backend, device, dtype, spec path and fingerprint,
                          the resolved train settings; marks the directory as a run
    ir.json               the resolved, checked IR of the spec
    metrics.jsonl         one line per committed epoch (rewritten from the checkpoint)
    checkpoints/          the latest epoch's checkpoint (and the best weights)
    weights.safetensors   the final weights
    curves.png            loss and accuracy per epoch (with matplotlib installed)
    reconstructions.png   inputs above outputs, for `target input` runs (reconstructions.py)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from netspec.errors import NetspecError
from netspec.weights import atomic_write_bytes

RUN_FORMAT = "netspec-run/1"
# Every name a run writes at the top of its directory: in a directory that is not a
# run, an existing file of one of these names is the user's, and is never overwritten.
OUTPUTS = (
    "run.json",
    "ir.json",
    "metrics.jsonl",
    "checkpoints",
    "weights.safetensors",
    "final.json",
    "curves.png",
    "reconstructions.png",
)


def default_run_dir(model: str, root: Path | None = None) -> Path:
    """A new directory ``runs/<model>-<time>``, created here so that no other run takes it."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = (root or Path("runs")) / f"{model}-{stamp}"
    path, n = base, 1
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
            return path
        except FileExistsError:
            if not path.is_dir():
                check_new_location(path, "the run directory")  # names the file in the way
                raise NetspecError(f"cannot create the run directory {path}") from None
            n += 1
            path = base.with_name(f"{base.name}-{n}")
        except OSError as error:
            raise NetspecError(
                f"cannot create the run directory {path}: {error.strerror or error}"
            ) from None


def require_path(value: str | os.PathLike[str], flag: str) -> Path:
    """A run directory argument as a Path; an empty one would mean the current directory."""
    if not os.fspath(value).strip():
        raise NetspecError(f"{flag} must name a run directory, found an empty path")
    return Path(value)


@contextlib.contextmanager
def guarded(operation: str, path: Path) -> Iterator[None]:
    """Turn an OSError of ``operation`` on ``path`` into a one-line NetspecError."""
    try:
        yield
    except OSError as error:
        raise NetspecError(f"cannot {operation} {path}: {error.strerror or error}") from None


def check_new_location(path: Path, flag: str = "--out") -> None:
    """Fail now, before any data is loaded, when ``path`` cannot become a run directory."""
    if path.exists() and not path.is_dir():
        found = "a file" if path.is_file() else "a device or other special file"
        raise NetspecError(f"{flag} {path} must be a directory, but it is {found}")
    ancestor = path
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NetspecError(f"{flag} {path} cannot be created: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK) and ancestor != path:
        raise NetspecError(f"cannot create the run directory {path}: {ancestor} is not writable")


def read_run_record(path: Path) -> dict[str, Any] | None:
    """run.json when it is a netspec run's record, else None."""
    try:
        data = json.loads((path / "run.json").read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None
    except OSError as error:
        raise NetspecError(f"cannot read {path / 'run.json'}: {error.strerror or error}") from None
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == RUN_FORMAT else None


def user_files(path: Path) -> list[str]:
    """The names in ``path`` that a run would write and that are not a run's own."""
    return sorted(name for name in OUTPUTS if (path / name).exists() or (path / name).is_symlink())


def is_unused(path: Path) -> bool:
    """Whether a directory holds nothing but what a run killed at its very start leaves:
    its lock, temporary files and a checkpoint directory with no committed state."""
    from netspec.training.lock import LOCK_FILE

    def leftover(entry: Path) -> bool:
        if entry.name == "checkpoints" and entry.is_dir():
            return not (entry / "state.json").exists()
        return entry.name == LOCK_FILE or _temporary(entry.name)

    return all(leftover(entry) for entry in path.iterdir())


def _temporary(name: str) -> bool:
    if name.startswith(".probe."):
        return True
    return any(name.startswith(f".{target}.") for target in OUTPUTS if target != "checkpoints")


def remove_temporaries(path: Path) -> None:
    """Delete the temporary files of atomic writes that a killed run left behind."""
    for entry in path.iterdir():
        if entry.is_file() and _temporary(entry.name):
            entry.unlink(missing_ok=True)


def probe_writable(directory: Path) -> None:
    """Create and delete a file in ``directory``: a read-only or full disk fails here."""
    with guarded("write in", directory):
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".probe.", dir=directory)
        try:
            os.write(handle, b"\0")
            os.fsync(handle)
        finally:
            os.close(handle)
            os.unlink(name)


def check_free_space(directory: Path, needed: int) -> None:
    """Refuse to start when ``directory``'s disk has less than ``needed`` bytes free."""
    with guarded("measure the free space of", directory):
        free = shutil.disk_usage(directory).free
    if free < needed:
        raise NetspecError(
            f"not enough free space in {directory}: checkpoints need about "
            f"{_megabytes(needed)}, the disk has {_megabytes(free)} free"
        )


def _megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def framework_versions(backend: str) -> dict[str, str]:
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    from netspec import __version__

    versions["netspec"] = __version__
    if backend == "torch" and "torch" in sys.modules:
        versions["torch"] = sys.modules["torch"].__version__
    if backend == "jax" and "jax" in sys.modules:
        versions["jax"] = sys.modules["jax"].__version__
    return versions


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with guarded("write", path):
        atomic_write_bytes(path, (json.dumps(data, indent=2, default=str) + "\n").encode())


def write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite metrics.jsonl from the whole history (so a resumed run has no stale lines)."""
    text = "".join(json.dumps(row) + "\n" for row in history)
    with guarded("write", path):
        atomic_write_bytes(path, text.encode())


def plot_curves(
    path: Path,
    history: list[dict[str, Any]],
    *,
    model: str | None = None,
    best_epoch: int | None = None,
) -> bool:
    """Loss and accuracy per epoch as a PNG; False when matplotlib is not installed.

    The title names ``model`` and the run (the folder ``path`` is in); ``best_epoch``, the
    epoch whose weights early stopping restored, is marked on every panel.
    """
    try:
        import matplotlib  # noqa: F401  (only whether it is installed)
    except ImportError:
        return False
    figure = curves_figure(history, model=model, run=path.parent.name, best_epoch=best_epoch)
    # Rendered in memory and written like every other run file (atomically, with the
    # mode an ordinary write would give).
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    atomic_write_bytes(path, image.getvalue())
    return True


def curves_figure(
    history: list[dict[str, Any]],
    *,
    model: str | None = None,
    run: str | None = None,
    best_epoch: int | None = None,
) -> Any:
    """The matplotlib figure of plot_curves (needs matplotlib).

    A bare Figure on an Agg canvas, not pyplot's: pyplot would load its GUI machinery
    (about half a second at the end of every run) and keep the figure until closed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    has_accuracy = any(row.get("train_accuracy") is not None for row in history)
    figure = Figure(figsize=(11 if has_accuracy else 6, 4))
    FigureCanvasAgg(figure)  # attaches itself: tight_layout and savefig render with Agg
    axes = list(np.atleast_1d(figure.subplots(1, 2 if has_accuracy else 1)))
    metrics = ["loss", "accuracy"] if has_accuracy else ["loss"]
    best = next((row for row in history if row["epoch"] == best_epoch), None)
    for axis, metric in zip(axes, metrics, strict=True):
        for split, style in (("train", "-"), ("val", "--"), ("test", ":")):
            # Only the epochs that measured it (eval_every skips some): one line.
            points = [
                (e, row.get(f"{split}_{metric}")) for e, row in zip(epochs, history, strict=True)
            ]
            points = [(e, v) for e, v in points if v is not None]
            if points:
                axis.plot(*zip(*points, strict=True), style, label=split)
        if best is not None:
            axis.axvline(best_epoch, color="grey", linewidth=0.8, linestyle="-.")
            # The marker sits on the validation curve, which chose the epoch when present.
            value = next(
                (best[k] for k in (f"val_{metric}", f"train_{metric}") if best.get(k) is not None),
                None,
            )
            if value is not None:
                axis.plot(
                    [best_epoch],
                    [value],
                    "o",
                    color="black",
                    label=f"best: epoch {best_epoch} (restored)",
                )
        # Epochs are whole numbers: a short run would otherwise get ticks at 1.5, 2.5, ...
        # (one tick is enough: a one-epoch run spans less than an epoch).
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axis.set(xlabel="epoch", ylabel=metric, title=metric)
        axis.legend()
    title = " - ".join(part for part in (model, run) if part)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure
