"""Checkpoints: weights and optimizer state (safetensors) plus the loop state (JSON).

A checkpoint of epoch k is ``checkpoints/epoch-<k>.weights.safetensors`` and
``checkpoints/epoch-<k>.optimizer.safetensors`` (and, with early stopping, the best
epoch's ``best-<j>.weights.safetensors``), committed by atomically replacing
``checkpoints/state.json``, which names them and records their SHA-256. A crash at any
moment leaves the previous checkpoint intact: every file is written under a new name,
the JSON last, and files the state no longer names are removed only after it.

``state.json`` comes from disk, so it is validated like any input: strict types,
bounds, plain file names inside the checkpoint directory, and the digest of every file
it names.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from netspec.errors import NetspecError
from netspec.training.schedule import PlateauState
from netspec.weights import atomic_write_bytes, load_weights, save_weights

STATE_FILE = "state.json"
# Plain file names only: a state naming "../x" or "/etc/x" must not reach outside.
_FILE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*\.safetensors$"
_CHECKPOINT_FILES = ("epoch-*.safetensors", "best-*.safetensors")
_SHA256 = r"^[0-9a-f]{64}$"

Row = dict[str, float | int | None]


class EpochsChange(BaseModel):
    """A resume that changed the number of epochs to train to (``--epochs``)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    after_epoch: int = Field(ge=0)
    epochs: int = Field(ge=1)


class LoopState(BaseModel):
    """Everything besides arrays that a resumed run needs to continue exactly."""

    model_config = ConfigDict(strict=True, extra="forbid")

    epoch: int = Field(ge=0)  # epochs completed
    step: int = Field(ge=0)  # optimizer steps taken
    backend: str
    dtype: str
    spec_sha256: str = Field(pattern=_SHA256)
    # The run's resolved train section (spec plus command-line overrides), as JSON.
    train: dict[str, Any]
    epochs_changes: list[EpochsChange] = Field(default_factory=list)
    history: list[Row] = Field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    waited: int = Field(default=0, ge=0)  # epochs without improvement, for early stopping
    stopped_early: bool = False
    weights: str = ""
    optimizer: str = ""
    best: str | None = None
    # The moving average of the weights (a train section's ema), and reduce_on_plateau's
    # memory: both continue on resume.
    ema: str = ""
    plateau: PlateauState | None = None
    sha256: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> LoopState:
        if len(self.history) != self.epoch:
            raise ValueError(f"epoch is {self.epoch} but the history has {len(self.history)} rows")
        for index, row in enumerate(self.history):
            if row.get("epoch") != index + 1:
                raise ValueError(f"history row {index + 1} is for epoch {row.get('epoch')!r}")
        if self.best_epoch is not None and not 1 <= self.best_epoch <= self.epoch:
            raise ValueError(f"best_epoch {self.best_epoch} is outside 1..{self.epoch}")
        named = self.files()
        if self.epoch >= 1 and not (self.weights and self.optimizer):
            raise ValueError("a checkpoint must name its weights and optimizer files")
        for name in named:
            if not _plain(name):
                raise ValueError(
                    f"{name!r} is not a plain .safetensors file name in the checkpoint directory"
                )
            if name not in self.sha256:
                raise ValueError(f"no SHA-256 recorded for {name}")
        for name, digest in self.sha256.items():
            if name not in named:
                raise ValueError(f"a SHA-256 is recorded for {name!r}, which is not in use")
            if not _hex64(digest):
                raise ValueError(f"the SHA-256 of {name} is not 64 hex digits")
        return self

    def files(self) -> list[str]:
        """The checkpoint files this state refers to."""
        return [name for name in (self.weights, self.optimizer, self.best or "", self.ema) if name]


def _plain(name: str) -> bool:
    return re.fullmatch(_FILE_NAME, name) is not None and ".." not in name


def _hex64(text: str) -> bool:
    return re.fullmatch(_SHA256, text) is not None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(
    directory: Path,
    state: LoopState,
    weights: dict[str, np.ndarray],
    optimizer: dict[str, np.ndarray],
    best: dict[str, np.ndarray] | None = None,
    ema: dict[str, np.ndarray] | None = None,
) -> None:
    """Write epoch ``state.epoch``'s files, then commit them by replacing state.json.

    ``best`` is given when this epoch is the best so far; otherwise the state keeps
    naming (and the digest of) the earlier best file. ``ema`` is the moving average of
    the weights, for a run that keeps one.
    """
    stem = f"epoch-{state.epoch:04d}"
    written = {
        f"{stem}.weights.safetensors": weights,
        f"{stem}.optimizer.safetensors": optimizer,
    }
    if best is not None:
        written[f"best-{state.epoch:04d}.weights.safetensors"] = best
    if ema is not None:
        written[f"{stem}.ema.safetensors"] = ema
    digests = {name: state.sha256[name] for name in ([state.best] if state.best else [])}
    for name, arrays in written.items():
        path = directory / name
        try:
            save_weights(path, arrays)
            # The digest of the bytes as they landed on disk: damage after this is caught.
            digests[name] = file_sha256(path)
        except OSError as error:
            raise NetspecError(f"cannot write {path}: {error.strerror or error}") from None
    state.weights, state.optimizer = list(written)[:2]
    if best is not None:
        state.best = f"best-{state.epoch:04d}.weights.safetensors"
    if ema is not None:
        state.ema = f"{stem}.ema.safetensors"
    state.sha256 = {name: digests[name] for name in state.files()}
    path = directory / STATE_FILE
    try:
        atomic_write_bytes(path, state.model_dump_json(indent=2).encode())
        remove_unreferenced(directory, state)
    except OSError as error:
        raise NetspecError(f"cannot write {path}: {error.strerror or error}") from None


def remove_unreferenced(directory: Path, state: LoopState | None) -> None:
    """Delete checkpoint files the committed state does not name, and stale temporaries."""
    keep = set(state.files()) if state is not None else set()
    for pattern in _CHECKPOINT_FILES:
        for path in directory.glob(pattern):
            if path.name not in keep:
                path.unlink(missing_ok=True)
    for pattern in (
        f".{STATE_FILE}.*",
        ".epoch-*.safetensors.*",
        ".best-*.safetensors.*",
        ".probe.*",
    ):
        for path in directory.glob(pattern):
            path.unlink(missing_ok=True)


def read_state(directory: Path) -> LoopState | None:
    """The committed state of a checkpoint directory, validated; None when none is committed."""
    path = directory / STATE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise NetspecError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NetspecError(
            f"{path} is not a netspec checkpoint state: not valid UTF-8 (byte {error.start})"
        ) from None
    try:
        return LoopState.model_validate_json(text)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'state'}: {e['msg']}" for e in error.errors()
        )
        raise NetspecError(f"{path} is not a valid netspec checkpoint state: {problems}") from None


def verify_file(directory: Path, name: str, expected: str) -> Path:
    """The path of a checkpoint file whose bytes still have the recorded SHA-256."""
    path = directory / name
    try:
        actual = file_sha256(path)
    except FileNotFoundError:
        raise NetspecError(
            f"the checkpoint is incomplete: {directory / STATE_FILE} names {path}, which is missing"
        ) from None
    except OSError as error:
        raise NetspecError(f"cannot read {path}: {error.strerror or error}") from None
    if actual != expected:
        raise NetspecError(
            f"{path} is damaged: its SHA-256 is {actual[:16]}..., but {STATE_FILE} recorded "
            f"{expected[:16]}...; the checkpoint cannot be trusted, start a new run"
        )
    return path


def load_checkpoint(
    directory: Path, state: LoopState
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The weights and optimizer arrays of a committed state, after checking their digests."""
    for name in state.files():
        verify_file(directory, name, state.sha256[name])
    return load_weights(directory / state.weights), load_weights(directory / state.optimizer)


def load_ema(directory: Path, state: LoopState) -> dict[str, np.ndarray] | None:
    """The moving average of the weights a committed state names, checked; None if none."""
    if not state.ema:
        return None
    return load_weights(verify_file(directory, state.ema, state.sha256[state.ema]))


def verify_if_checkpoint(path: Path) -> None:
    """When ``path`` is a file named by the state.json beside it, check its SHA-256."""
    state_path = path.parent / STATE_FILE
    if not state_path.is_file():
        return
    try:
        recorded = json.loads(state_path.read_bytes().decode("utf-8")).get("sha256", {})
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return  # not a readable state: nothing recorded to check against
    if isinstance(recorded, dict) and isinstance(recorded.get(path.name), str):
        verify_file(path.parent, path.name, recorded[path.name])
