"""Checkpoints: weights and optimizer state (safetensors) plus the loop state (JSON).

A checkpoint of epoch k is ``checkpoints/epoch-<k>.weights.safetensors`` and
``checkpoints/epoch-<k>.optimizer.safetensors``, committed by atomically replacing
``checkpoints/state.json`` which names them. A crash at any moment leaves the previous
checkpoint intact: the JSON is written last, and older files are removed only after it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netspec.errors import NetspecError
from netspec.weights import atomic_write_bytes, load_weights, save_weights

STATE_FILE = "state.json"


@dataclass
class LoopState:
    """Everything besides arrays that a resumed run needs to continue exactly."""

    epoch: int  # epochs completed
    step: int  # optimizer steps taken
    seed: int
    backend: str
    dtype: str
    spec_sha256: str
    history: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    waited: int = 0  # epochs without improvement, for early stopping
    stopped_early: bool = False
    weights: str = ""
    optimizer: str = ""


def save_checkpoint(
    directory: Path,
    state: LoopState,
    weights: dict[str, np.ndarray],
    optimizer: dict[str, np.ndarray],
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"epoch-{state.epoch:04d}"
    state.weights = f"{stem}.weights.safetensors"
    state.optimizer = f"{stem}.optimizer.safetensors"
    save_weights(directory / state.weights, weights)
    save_weights(directory / state.optimizer, optimizer)
    atomic_write_bytes(directory / STATE_FILE, json.dumps(asdict(state), indent=2).encode())
    keep = {state.weights, state.optimizer, STATE_FILE, "best.weights.safetensors"}
    for old in directory.glob("epoch-*.safetensors"):
        if old.name not in keep:
            old.unlink(missing_ok=True)


def load_checkpoint(
    directory: Path,
) -> tuple[LoopState, dict[str, np.ndarray], dict[str, np.ndarray]]:
    path = directory / STATE_FILE
    if not path.exists():
        raise NetspecError(
            f"no checkpoint in {directory}: expected {path} (written after each epoch)"
        )
    try:
        state = LoopState(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as error:
        raise NetspecError(f"{path} is not a netspec checkpoint state: {error}") from None
    return state, load_weights(directory / state.weights), load_weights(directory / state.optimizer)
