"""What a training run ends with: its result, or the exceptions that stop it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netspec.backend import CompiledModel
from netspec.errors import NetspecError


class TrainingDiverged(NetspecError):
    """The loss or the gradients stopped being finite; the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; ``epoch`` is that of its last complete checkpoint (None when
    the run directory was not yet claimed, 0 when no epoch was committed)."""

    def __init__(self, run_dir: Path | None, epoch: int | None) -> None:
        super().__init__(run_dir, epoch)
        self.run_dir = run_dir
        self.epoch = epoch

    def report(self, spec: str, options: dict[str, str | bool | None], quiet: bool) -> str:
        """What was saved, and the command that continues: with ``options``, those with a
        text value, and the switches among them that are True."""
        if self.run_dir is None or self.epoch is None:
            return "interrupted before the run directory was set up; nothing was saved"
        command = ["netspec", "train", spec, "--resume", str(self.run_dir)]
        for flag, value in options.items():
            command += [flag] if value is True else [flag, value] if isinstance(value, str) else []
        command += ["--quiet"] if quiet else []
        saved = (
            f"the checkpoint of epoch {self.epoch} in {self.run_dir} is complete"
            if self.epoch
            else f"no epoch's checkpoint is complete in {self.run_dir}; resuming starts it "
            "from epoch 1"
        )
        return f"interrupted; {saved}. Continue with:\n  {shlex.join(command)}"


@dataclass
class TrainResult:
    """What :func:`fit` returns: per-epoch metrics, the trained model, where it is saved."""

    history: list[dict[str, Any]]
    model: CompiledModel
    run_dir: Path
    final: dict[str, float | None] = field(default_factory=dict)
    stopped_early: bool = False
    # How the run directory was (re)used, and any run file that was skipped.
    notes: list[str] = field(default_factory=list)
