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


def plot_curves(path: Path, history: list[dict[str, Any]]) -> bool:
    """Loss and accuracy per epoch as a PNG; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = [row["epoch"] for row in history]
    has_accuracy = any(row.get("train_accuracy") is not None for row in history)
    figure, axes = plt.subplots(1, 2 if has_accuracy else 1, figsize=(11 if has_accuracy else 6, 4))
    axes = list(np.atleast_1d(axes))
    for split, style in (("train", "-"), ("val", "--"), ("test", ":")):
        values = [row.get(f"{split}_loss") for row in history]
        if any(v is not None for v in values):
            axes[0].plot(epochs, values, style, label=split)
        if has_accuracy:
            accuracy = [row.get(f"{split}_accuracy") for row in history]
            if any(a is not None for a in accuracy):
                axes[1].plot(epochs, accuracy, style, label=split)
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0].legend()
    if has_accuracy:
        axes[1].set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        axes[1].legend()
    figure.tight_layout()
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary, dpi=100)
    plt.close(figure)
    temporary.replace(path)
    return True
