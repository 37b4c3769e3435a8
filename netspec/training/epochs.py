"""The epochs of a run: steps over shuffled batches, evaluation, early stopping,
checkpoints and the final files, for any backend (each supplies only a fused step);
:func:`netspec.training.loop.fit` sets a run up and hands it to :class:`EpochLoop`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from netspec.backend import CompiledModel
from netspec.data import Dataset, num_batches
from netspec.data.prefetch import epoch_batches, train_batches
from netspec.ir import CheckedModel, Program
from netspec.ir.train import TrainSpec
from netspec.training import distributed, reconstructions, rundir
from netspec.training.checkpoint import LoopState, save_checkpoint, verify_file
from netspec.training.evaluate import CLASSIFICATION, evaluate
from netspec.training.evaluation_plan import EvalPlan
from netspec.training.hooks import RunHooks
from netspec.training.metrics import label_positions
from netspec.training.preprocessing import weights_metadata
from netspec.training.progress import Progress
from netspec.training.results import TrainingDiverged, TrainResult
from netspec.weights import load_weights, save_weights

# Statistics are read back from the device about this many times per epoch: enough for
# a live progress bar, few enough that no step waits on the host.
DRAINS_PER_EPOCH = 20


def dropout_seed(seed: int, epoch: int) -> int:
    """The dropout stream of an epoch depends on (seed, epoch) only, so a resumed run
    draws the same masks as an uninterrupted one without saving any RNG state."""
    return (seed * 1_000_003 + epoch) % (2**63)


def _improved(value: float, best: float | None, monitor: str, min_delta: float) -> bool:
    if best is None:
        return True
    if monitor.endswith("accuracy"):
        return value > best + min_delta
    return value < best - min_delta


class EpochLoop:
    """The epochs of one run, once fit has set it up: steps over each epoch's batches,
    evaluation, early stopping, checkpoints, and the final files."""

    def __init__(
        self,
        program: Program,
        model: CheckedModel,
        spec: TrainSpec,
        dataset: Dataset,
        compiled: CompiledModel,
        step: Any,
        state: LoopState,
        run_dir: Path,
        show_progress: bool,
    ) -> None:
        self.program = program
        self.model = model
        self.spec = spec
        self.data = dataset
        self.compiled = compiled
        self.step = step
        self.state = state
        self.run_dir = run_dir
        self.checkpoints = run_dir / "checkpoints"
        self.batches = num_batches(len(dataset.train), spec.batch_size)
        self.progress = Progress(spec.epochs, self.batches, enabled=show_progress)
        self.classify = spec.loss.kind in CLASSIFICATION
        # Labels per sample: one per step of a sequence output [T, V].
        self.positions = label_positions(spec.loss.kind, model.output_type.shape)
        self.committed = state.epoch  # the epoch of the last checkpoint on disk
        self._best: dict[str, np.ndarray] | None = None  # this epoch's, to save with it
        self.on_epoch: Callable[[dict[str, Any]], None] | None = None
        self.hooks: RunHooks  # set by fit once the run directory is claimed
        self.world: distributed.World = distributed.SINGLE  # the processes training together
        self.prefetch = False  # make batches in a thread (set by fit)
        self.plan = EvalPlan()  # the epochs that evaluate (set by fit)
        # The current epoch's batches (closed by fit if the epoch ends early).
        self.items: Any = epoch_batches(lambda: iter(()), prefetch=False)
        # The last evaluation and the step whose weights it measured (see _final_metrics).
        self._evaluated: tuple[int, dict[str, float | None]] | None = None

    def run(self, stop_after: int | None) -> None:
        done = 0
        while self.state.epoch < self.spec.epochs and not self.state.stopped_early:
            if stop_after is not None and done >= stop_after:
                return
            self._epoch(self.state.epoch)
            done += 1

    def _epoch(self, epoch: int) -> None:
        spec = self.spec
        rate = self.hooks.rate(epoch, 0)  # the epoch's first step's, as its row says
        self.compiled.seed(distributed.rank_seed(dropout_seed(spec.seed, epoch), self.world))
        self.progress.start_epoch(epoch)
        drain_every = max(1, self.batches // DRAINS_PER_EPOCH)
        # A step that runs k steps per compiled call (jax) drains on a multiple of k.
        fuse = getattr(self.step, "steps_per_call", None)
        if fuse is not None:
            k = fuse(drain_every)
            drain_every = -(-drain_every // k) * k
        loss_sum, samples, correct = 0.0, 0, 0
        start = time.perf_counter()
        pending = 0
        # Overflow on the way to a non-finite loss is reported by _diverged, with its place;
        # NumPy's own warnings would only repeat it less clearly.
        # Made ahead in a thread when that pays (netspec/data/prefetch.py), the same batches
        # either way; fit closes the thread however the epoch ends.
        self.items = epoch_batches(
            lambda: train_batches(
                self.data.train, spec.batch_size, spec.data.augment, seed=spec.seed, epoch=epoch
            ),
            prefetch=self.prefetch,
        )
        for index, (x, y) in enumerate(self.items):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self.step.step(x, y, self.hooks.rate(epoch, index) if self.hooks.per_step else rate)
                self.hooks.after_step()
            pending += 1
            if pending == drain_every or index == self.batches - 1:
                stats = distributed.reduce_stats(self.world, self.step.drain(), pending)
                if stats.first_nonfinite >= 0:
                    self._diverged(epoch, index - pending + 1 + stats.first_nonfinite)
                loss_sum += stats.loss_sum
                samples += stats.samples
                correct += stats.correct
                pending = 0
                self.progress.update(index + 1, samples, loss_sum / max(samples, 1))
        self.state.step += self.batches
        elapsed = time.perf_counter() - start
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": self.state.step,
            "lr": rate,
            "train_loss": loss_sum / max(samples, 1),
            "train_accuracy": correct / (samples * self.positions)
            if self.classify and samples
            else None,
        }
        evaluated = self.plan.splits(epoch, spec.epochs)
        row.update(self._evaluate(evaluated))
        self.hooks.evaluate(row, evaluated)
        row["epoch_time"] = elapsed
        row["samples_per_second"] = samples / elapsed if elapsed > 0 else 0.0
        row = self.world.broadcast(row)  # rank 0's timings; the same decisions everywhere
        self.state.epoch = epoch + 1
        self.state.history.append(row)
        self.progress.end_epoch(row)
        self._early_stopping(row)
        self.hooks.end_epoch(row)
        if self.world.is_writer:
            save_checkpoint(
                self.checkpoints,
                self.state,
                self.compiled_arrays(),
                self.step.optimizer_state(),
                best=self._best,
                ema=self.hooks.ema_arrays(),
            )
        self.committed, self._best = self.state.epoch, None
        if self.world.is_writer:
            rundir.write_metrics(self.run_dir / "metrics.jsonl", self.state.history)
        if self.world.size > 1:  # the files of the commit, as the writer named them
            self.state = self.world.broadcast(self.state)
        self.hooks.committed(row)
        if self.on_epoch is not None:
            self.on_epoch(dict(row))

    def _evaluate(self, splits: tuple[str, ...] = ("val", "test")) -> dict[str, float | None]:
        """Validation and test metrics (those of ``splits``), sharded over the ranks of a
        data-parallel run."""
        if not splits:
            return {}
        if self.world.size > 1:
            self.step.share_state()  # rank 0's batch-norm statistics on every rank
        found: dict[str, float | None] = {}
        for name, split in (("val", self.data.validation), ("test", self.data.test)):
            if name in splits and split is not None and len(split):
                metrics = evaluate(
                    self.compiled, split, self.spec.loss, metrics=self.spec.metrics,
                    world=self.world,
                )  # fmt: skip
                found.update(metrics.as_dict(name))
        self._evaluated = (self.state.step, dict(found))
        return found

    def compiled_arrays(self) -> dict[str, np.ndarray]:
        return {**self.compiled.parameters(), **self.compiled.state()}

    def _early_stopping(self, row: dict[str, Any]) -> None:
        rule = self.spec.early_stopping
        if rule is None:
            return
        value = row.get(rule.monitor)
        if value is None:  # not evaluated this epoch (eval_every): patience counts evaluations
            return
        if _improved(value, self.state.best_value, rule.monitor, rule.min_delta):
            self.state.best_value, self.state.best_epoch, self.state.waited = value, row["epoch"], 0
            if rule.restore_best:
                self._best = self.compiled_arrays()
        else:
            self.state.waited += 1
            if self.state.waited >= rule.patience:
                self.state.stopped_early = True
                self.progress.message(
                    f"early stopping after epoch {row['epoch']}: {rule.monitor} has not improved "
                    f"for {rule.patience} {self.plan.unit(rule.monitor)} "
                    f"(best {self.state.best_value:.4f} at epoch {self.state.best_epoch})"
                )

    def _diverged(self, epoch: int, step_in_epoch: int) -> None:
        params = self.compiled.parameters()
        culprit = next((n for n, v in params.items() if not np.all(np.isfinite(v))), None)
        where = ""
        if culprit is not None:
            node = next(p.node for p in self.model.params if p.name == culprit)
            span = self.program.source_map.get(f"{self.model.name}/{node}")
            where = f"; the first non-finite parameter is {culprit}"
            if span is not None:
                where += f" ({span.file}:{span.line}:{span.column})"
        kept = (
            f"the last good checkpoint (epoch {self.state.epoch}) is in {self.checkpoints}"
            if self.state.epoch
            else "no epoch had completed, so there is no checkpoint"
        )
        raise TrainingDiverged(
            f"training diverged at epoch {epoch + 1}, step {step_in_epoch + 1} of "
            f"{self.batches}: the loss or a gradient is not finite{where}. {kept}. "
            "Lower the learning rate, or add `clip norm(1.0)` to the train section."
        )

    def finish(self) -> TrainResult:
        rule = self.spec.early_stopping
        if (
            rule is not None
            and rule.restore_best
            and self.state.best
            and self.state.best_epoch != self.state.epoch
        ):
            # Verified against its digest, like every file a checkpoint names.
            name = self.state.best
            best = verify_file(self.checkpoints, name, self.state.sha256[name])
            self.compiled.set_parameters(load_weights(best))
            self.progress.message(f"restored the weights of epoch {self.state.best_epoch}")
            self._evaluated = None  # other weights than the last epoch measured
        final = self._final_metrics()
        notes: list[str] = []
        if self.world.is_writer:
            notes = self._write_results(rule is not None and rule.restore_best, final)
            if final:
                rundir.write_json(self.run_dir / "final.json", final)
        self.world.barrier()  # every file is written
        return TrainResult(
            history=self.state.history,
            model=self.compiled,
            run_dir=self.run_dir,
            final=final,
            stopped_early=self.state.stopped_early,
            notes=notes,
        )

    def _final_metrics(self) -> dict[str, float | None]:
        """The validation and test figures of the final weights: the last epoch's when it
        measured these very weights (no step since, none restored) and every split,
        rather than evaluating them a second time."""
        expected = [
            name
            for name, split in (("val", self.data.validation), ("test", self.data.test))
            if split is not None and len(split)
        ]
        if self._evaluated is not None:
            step, found = self._evaluated
            if step == self.state.step and all(
                any(key.startswith(f"{name}_") for key in found) for name in expected
            ):
                return dict(found)
        return self._evaluate()

    def _write_results(self, restored: bool, final: dict[str, float | None]) -> list[str]:
        """The final weights, the curves, (an autoencoder's) reconstructions and the
        averaged weights of an ema (whose figures join ``final``)."""
        final_weights = self.run_dir / "weights.safetensors"
        metadata = {
            "model": self.model.name,
            "epochs": str(self.state.epoch),
            **weights_metadata(self.data),
        }
        with rundir.guarded("write", final_weights):
            save_weights(final_weights, self.compiled_arrays(), metadata=metadata)
        with rundir.guarded("write", self.run_dir / "curves.png"):
            rundir.plot_curves(
                self.run_dir / "curves.png",
                self.state.history,
                model=self.model.name,
                best_epoch=self.state.best_epoch if restored else None,
            )
        notes: list[str] = []
        if self.spec.target == "input":  # an autoencoder: show what it makes of its inputs
            title = f"{self.model.name} - {self.run_dir.name}"
            with rundir.guarded("write", self.run_dir / reconstructions.FILE):
                note = reconstructions.write_reconstructions(
                    self.run_dir, self.compiled, self.data, title
                )
            if note is not None:
                self.progress.message(note)
                notes.append(note)
        self.hooks.finish(metadata, final)
        return notes
