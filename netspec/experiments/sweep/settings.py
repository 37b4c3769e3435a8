"""A sweep's settings: what it optimises and how, recorded in ``sweep.json`` so that a
resumed sweep goes on with them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from netspec.errors import NetspecError
from netspec.training import rundir

SETTINGS_FILE = "sweep.json"
SPEC_COPY = "spec.net"
STUDY_FILE = "study.db"
STUDY_NAME = "netspec"
SAMPLERS = ("tpe", "random", "grid")
SPLITS = ("val", "test")  # an objective is a final metric of the returned weights
FORMAT = 1


def direction_of(objective: str) -> str:
    """``maximize`` for an accuracy (``val_accuracy``, ``val_top_5_accuracy``), else
    ``minimize`` (losses, mae, perplexity)."""
    return "maximize" if objective.endswith("accuracy") else "minimize"


def check_objective(objective: object) -> str:
    """An objective names a split and a metric of metrics.jsonl: ``val_accuracy``."""
    if (
        not isinstance(objective, str)
        or objective.partition("_")[0] not in SPLITS
        or not (objective.partition("_")[2])
    ):
        raise NetspecError(
            f"objective must name a split and a metric, e.g. val_accuracy, val_loss or "
            f"test_loss, found {objective!r}"
        )
    return objective


@dataclass
class SweepSettings:
    """What a sweep optimises and how (everything but its number of trials and jobs)."""

    spec: str
    spec_sha256: str
    objective: str
    sampler: str = "tpe"
    seed: int = 0
    folds: int | None = None
    prune: bool = True
    # Trials that complete before the pruner starts comparing (the median needs some).
    prune_after: int = 5
    # Options passed to every trial's training: backend, device, dtype, epochs, ...
    train: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    # --set KEY=VALUE overrides applied to the spec before its spaces are read.
    overrides: list[str] = field(default_factory=list)

    @property
    def direction(self) -> str:
        """Whether the objective is to be maximised or minimised."""
        return direction_of(self.objective)

    def record(self) -> dict[str, Any]:
        """The JSON of sweep.json."""
        return {"format": FORMAT, **asdict(self), "direction": self.direction}


def sha256_text(text: str) -> str:
    """The SHA-256 of a spec's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_settings(directory: Path) -> SweepSettings | None:
    """The settings recorded in ``directory`` (None when it holds no sweep yet)."""
    path = directory / SETTINGS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NetspecError(f"cannot read {path} as a sweep's settings: {error}") from None
    names = {f.name for f in fields(SweepSettings)}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NetspecError(f"{path} is not a netspec sweep's settings (format {FORMAT})")
    return SweepSettings(**{k: v for k, v in data.items() if k in names})


def write_settings(directory: Path, settings: SweepSettings, text: str) -> None:
    """Record the settings and a copy of the spec (atomically, each)."""
    from netspec.weights import atomic_write_bytes

    with rundir.guarded("write", directory / SPEC_COPY):
        atomic_write_bytes(directory / SPEC_COPY, text.encode("utf-8"))
    rundir.write_json(directory / SETTINGS_FILE, settings.record())


def resumed(recorded: SweepSettings, given: dict[str, Any], directory: Path) -> SweepSettings:
    """The recorded settings, which every setting given again (not None) must agree with;
    the spec must not have changed since the sweep started."""
    if given["spec_sha256"] != recorded.spec_sha256:
        raise NetspecError(
            f"the spec has changed since the sweep in {directory} started (its text differs "
            f"from {directory / SPEC_COPY}); start a new sweep with another --out"
        )
    for name, value in given.items():
        if name in ("spec", "spec_sha256") or value is None:
            continue
        if name == "train":
            for option, item in value.items():
                was = recorded.train.get(option)
                if item is not None and item != was:
                    _contradicts(f"{option} {item}", f"{option} {was}", directory)
            continue
        if getattr(recorded, name) != value:
            _contradicts(f"{name} {value}", f"{name} {getattr(recorded, name)}", directory)
    # The same text, perhaps by another path (the sweep resumed from another directory).
    recorded.spec = given["spec"]
    return recorded


def _contradicts(given: str, recorded: str, directory: Path) -> None:
    raise NetspecError(
        f"{given} contradicts the sweep in {directory}, which was started with {recorded}; "
        "a resumed sweep keeps its settings: drop the option, or start a new sweep with "
        "another --out"
    )
