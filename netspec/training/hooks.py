"""What the loop does around its steps for the optional parts of a train section: the
rate of each step (one_cycle per step, reduce_on_plateau from its saved state), the
moving average of the weights (``ema``) and TensorBoard event files.

Each is a call at one point of the loop (:class:`RunHooks`), so that the loop itself
stays a loop over batches.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from netspec.backend import CompiledModel
from netspec.data import Dataset, augment
from netspec.errors import NetspecError
from netspec.ir.train import ReduceOnPlateauSchedule, TrainSpec
from netspec.training import rundir
from netspec.training.checkpoint import LoopState, load_ema
from netspec.training.ema import WeightAverage
from netspec.training.evaluate import CLASSIFICATION, evaluate
from netspec.training.schedule import PlateauState, learning_rate, per_step
from netspec.training.tensorboard_events import EventLog
from netspec.weights import save_weights

EMA_WEIGHTS = "weights_ema.safetensors"


def check_settings(spec: TrainSpec, dataset: Dataset) -> None:
    """Before training, against the data as loaded (it may come from ``--data`` or arrays,
    which `netspec check` did not see): augmentation needs images, and reduce_on_plateau
    a figure the run measures."""
    if spec.data.augment:
        # The first rows stand for the batches: the same error as a batch would raise.
        augment(dataset.train.rows(slice(0, 1))[0], spec.data.augment, seed=0, epoch=0, batch=0)
    schedule = spec.schedule
    if not isinstance(schedule, ReduceOnPlateauSchedule):
        return
    monitor = schedule.monitor
    split = {"val": dataset.validation, "test": dataset.test}.get(monitor.split("_")[0])
    if monitor.startswith(("val", "test")) and split is None:
        fix = (
            "add validation = 0.1 to the data source"
            if monitor.startswith("val")
            else "the data source has no test split"
        )
        raise NetspecError(
            f"reduce_on_plateau monitors {monitor}, which this run cannot measure: {fix}"
        )
    if monitor.endswith("accuracy") and spec.loss.kind not in CLASSIFICATION:
        raise NetspecError(
            f"reduce_on_plateau monitors {monitor}, but {spec.loss.kind} is a regression "
            "loss: monitor val_loss instead"
        )


class RunHooks:
    """The schedule's rates, the weight average and the event log of one run."""

    def __init__(
        self,
        spec: TrainSpec,
        state: LoopState,
        compiled: CompiledModel,
        dataset: Dataset,
        run_dir: Path,
        *,
        steps_per_epoch: int,
        tensorboard: bool,
    ) -> None:
        self.spec = spec
        self.state = state
        self.compiled = compiled
        self.data = dataset
        self.run_dir = run_dir
        self.steps_per_epoch = steps_per_epoch
        self.per_step = per_step(spec.schedule)
        if isinstance(spec.schedule, ReduceOnPlateauSchedule) and state.plateau is None:
            state.plateau = PlateauState(lr=spec.optimizer.lr)
        self.ema: WeightAverage | None = None
        if spec.ema is not None:
            saved = load_ema(run_dir / "checkpoints", state)
            self.ema = WeightAverage(spec.ema.decay, saved)
        # Opened last: the checks above raise before any file is made.
        self.events = EventLog(run_dir) if tensorboard else None

    def rate(self, epoch: int, step: int) -> float:
        """The learning rate of step ``step`` (from 0) of epoch ``epoch`` (from 0)."""
        return learning_rate(
            self.spec.schedule,
            self.spec.optimizer.lr,
            epoch,
            step=step if self.per_step else 0,
            steps_per_epoch=self.steps_per_epoch,
            epochs=self.spec.epochs,
            plateau=self.state.plateau,
        )

    def after_step(self) -> None:
        """Fold the new weights into the average (one read of the parameters per step)."""
        if self.ema is not None:
            self.ema.update(self.compiled.parameters())

    def evaluate(self, row: dict[str, Any], splits: tuple[str, ...] = ("val", "test")) -> None:
        """Add the averaged weights' figures on ``splits`` (``val_ema_loss``...)."""
        if self.ema is None or self.ema.arrays is None or not splits:
            return
        row.update(self._ema_metrics(splits))

    def end_epoch(self, row: dict[str, Any]) -> None:
        """Let reduce_on_plateau see the epoch's figure (before the state is committed)."""
        schedule = self.spec.schedule
        if isinstance(schedule, ReduceOnPlateauSchedule):
            value = row.get(schedule.monitor)
            if value is None:  # not evaluated this epoch (eval_every): patience counts evaluations
                return
            assert self.state.plateau is not None, "made in __init__"
            self.state.plateau.update(schedule, float(value))

    def ema_arrays(self) -> dict[str, np.ndarray] | None:
        """The average to save in the epoch's checkpoint, or None without ``ema``."""
        return None if self.ema is None else self.ema.arrays

    def committed(self, row: dict[str, Any]) -> None:
        """After an epoch's checkpoint is committed: its row to the event file."""
        if self.events is not None:
            self.events.write(row)

    def finish(self, metadata: dict[str, str], final: dict[str, float | None]) -> None:
        """Save the averaged weights (with the model's running statistics) beside the raw
        ones, and add their validation and test figures to ``final``."""
        if self.ema is None or self.ema.arrays is None:
            return
        path = self.run_dir / EMA_WEIGHTS
        with rundir.guarded("write", path):
            save_weights(
                path,
                {**self.ema.arrays, **self.compiled.state()},
                metadata={**metadata, "ema_decay": repr(self.ema.decay)},
            )
        final.update(self._ema_metrics())

    def close(self) -> None:
        """Close the event file, if any."""
        if self.events is not None:
            self.events.close()
            self.events = None

    def _ema_metrics(self, splits: tuple[str, ...] = ("val", "test")) -> dict[str, float | None]:
        assert self.ema is not None and self.ema.arrays is not None
        raw = self.compiled.parameters()
        self.compiled.set_parameters(self.ema.arrays)
        try:
            found: dict[str, float | None] = {}
            for name, split in (("val", self.data.validation), ("test", self.data.test)):
                if name in splits and split is not None and len(split):
                    metrics = evaluate(
                        self.compiled, split, self.spec.loss, metrics=self.spec.metrics
                    )
                    found.update(metrics.as_dict(f"{name}_ema"))
            return found
        finally:
            # The raw weights go on training: exactly the arrays read above.
            self.compiled.set_parameters(raw)
