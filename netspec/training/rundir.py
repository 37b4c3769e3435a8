"""The run directory: what a training run leaves behind, all written atomically.

runs/<model>-<YYYYmmdd-HHMMSS>/
    ir.json               the resolved, checked IR of the spec
    run.json              versions, seed, backend, device, dtype, spec path and hash
    metrics.jsonl         one line per epoch
    checkpoints/          the latest epoch's checkpoint (and the best weights)
    weights.safetensors   the final weights
    curves.png            loss and accuracy per epoch (with matplotlib installed)
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from netspec.errors import NetspecError
from netspec.weights import atomic_write_bytes


def default_run_dir(model: str, root: Path | None = None) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = (root or Path("runs")) / f"{model}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def prepare_new(path: Path) -> None:
    if (path / "checkpoints").exists():
        raise NetspecError(
            f"{path} already holds a training run; continue it with --resume {path} "
            "or choose another --out"
        )
    path.mkdir(parents=True, exist_ok=True)


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
    atomic_write_bytes(path, (json.dumps(data, indent=2, default=str) + "\n").encode())


def write_metrics(path: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite metrics.jsonl from the whole history (so a resumed run has no stale lines)."""
    text = "".join(json.dumps(row) + "\n" for row in history)
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
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure = curves_figure(history, model=model, run=path.parent.name, best_epoch=best_epoch)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=100)
    plt.close(figure)
    temporary.replace(path)
    return True


def curves_figure(
    history: list[dict[str, Any]],
    *,
    model: str | None = None,
    run: str | None = None,
    best_epoch: int | None = None,
) -> Any:
    """The matplotlib figure of plot_curves (needs matplotlib; the caller closes it)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    has_accuracy = any(row.get("train_accuracy") is not None for row in history)
    figure, axes = plt.subplots(1, 2 if has_accuracy else 1, figsize=(11 if has_accuracy else 6, 4))
    axes = list(np.atleast_1d(axes))
    metrics = ["loss", "accuracy"] if has_accuracy else ["loss"]
    best = next((row for row in history if row["epoch"] == best_epoch), None)
    for axis, metric in zip(axes, metrics, strict=True):
        for split, style in (("train", "-"), ("val", "--"), ("test", ":")):
            values = [row.get(f"{split}_{metric}") for row in history]
            if any(v is not None for v in values):
                axis.plot(epochs, values, style, label=split)
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
