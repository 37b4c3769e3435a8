"""The one training loop: epochs over shuffled batches, evaluation, early stopping,
checkpoints and resume, for any backend (each supplies only a fused step)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from netspec._contract import check_indices
from netspec.backend import CompiledModel, get_backend
from netspec.data import Dataset, load_dataset, num_batches
from netspec.data._arrays import ArrayData
from netspec.data.prefetch import epoch_batches, prefetch_pays, train_batches
from netspec.devices import check_compile, check_devices
from netspec.errors import NetspecError
from netspec.ir import CheckedModel, Program
from netspec.ir.graph import INDEX_DTYPES
from netspec.ir.train import TrainSpec
from netspec.memory import check_training_memory
from netspec.precision import check_precision
from netspec.training import distributed, reconstructions, rundir, start, tensorboard_events
from netspec.training import threads as thread_pools
from netspec.training.checkpoint import LoopState, load_checkpoint, save_checkpoint, verify_file
from netspec.training.distributed import SINGLE, World
from netspec.training.evaluate import CLASSIFICATION, evaluate
from netspec.training.evaluation_plan import EvalPlan, check_plan, resolve_plan
from netspec.training.hooks import RunHooks, check_settings
from netspec.training.metrics import check_metrics, label_positions
from netspec.training.preprocessing import set_input_statistics, weights_metadata
from netspec.training.progress import Progress
from netspec.training.results import TrainingDiverged, TrainingInterrupted, TrainResult
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


def fit(
    program: Program,
    *,
    model: str | None = None,
    backend: str = "numpy",
    device: str = "cpu",
    devices: int = 1,
    dtype: str = "float32",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    precision: str | None = None,
    seed: int | None = None,
    data: Any = None,
    data_dir: str | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    spec_path: str | None = None,
    stop_after: int | None = None,
    fold: tuple[int, int] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    tensorboard: bool = False,
    nproc: int = 1,
    sync_batchnorm: bool = False,
    master_port: int | None = None,
    compile: bool = False,
    threads: int | str = 0,
    prefetch: bool | None = None,
    eval_every: int | None = None,
    test_at_end: bool | None = None,
) -> TrainResult:
    """Train a model of ``program`` as its train section says, with overrides.

    ``resume`` continues a run with the settings it was started with: ``epochs`` may
    change its length, the other overrides must agree with it. ``stop_after`` ends the
    run after that many epochs of this call (as an interrupted run would end), leaving a
    checkpoint to ``resume`` from. Ctrl-C raises :class:`TrainingInterrupted`, which says
    which epoch's checkpoint is complete. ``devices`` > 1 trains data-parallel over that
    many devices (the jax backend only; docs/distributed.md). ``precision`` (fp32, bf16,
    fp16; None: the train section's) is the arithmetic of each step, with float32 master
    weights (torch and jax; docs/training.md, "Precision"); evaluation stays in ``dtype``.

    ``fold=(k, K)`` trains on fold k of K of k-fold cross-validation (fold k of the
    training split is the validation split; see ``netspec.data.load_dataset``), recorded
    in run.json; a resumed run keeps its fold. ``on_epoch`` is called with each epoch's
    metrics row once its checkpoint is committed; what it raises ends the run there,
    unchanged (a sweep's pruner stops a poor trial this way). ``tensorboard`` also writes
    each epoch's metrics as TensorBoard event files in RUN_DIR/tensorboard/ (the
    tensorboard extra).

    ``nproc`` > 1 trains data-parallel in that many PyTorch processes on this machine
    (``master_port``: their rendezvous port, a free one by default); a process started
    by torchrun joins its group instead. ``sync_batchnorm`` normalises with the
    statistics of the whole global batch (docs/distributed.md).

    ``compile`` compiles the torch step with torch.compile (the torch backend only).

    ``threads`` sizes the CPU thread pools the run uses (the BLAS pool, and PyTorch's
    intra-op pool on the torch backend) for its duration; 0 or "auto" takes one per
    physical core that the load leaves free (netspec.training.threads). With ``nproc``
    it counts the whole run's threads, each worker taking an equal share. A resumed run
    keeps the count it recorded in run.json unless given one.
    """
    threads = thread_pools.check_threads(threads)
    devices = check_devices(backend, devices)
    check_compile(backend, compile)
    if distributed.check_nproc(nproc, backend) > 1:
        from netspec.backends.torch._launch import launch

        options = dict(model=model, backend=backend, device=device, dtype=dtype, epochs=epochs,
                       batch_size=batch_size, lr=lr, seed=seed, data=data, data_dir=data_dir,
                       out=out, resume=resume, progress=progress, spec_path=spec_path,
                       stop_after=stop_after, sync_batchnorm=sync_batchnorm, fold=fold,
                       tensorboard=tensorboard, compile=compile,
                       precision=precision, prefetch=prefetch,
                       eval_every=eval_every, test_at_end=test_at_end)  # fmt: skip
        # Each worker's share; a resumed run's workers keep the count it recorded.
        resumed = resume is not None and not threads
        options["threads"] = 0 if resumed else thread_pools.worker_share(threads, nproc)
        if on_epoch is not None:
            raise NetspecError("on_epoch runs in this process; it cannot follow nproc > 1 workers")
        return launch(program, options, nproc=nproc, master_port=master_port)
    # JAX in several processes runs one global program (netspec.backends.jax._distributed):
    # rank 0 writes the run directory, the others a private one.
    processes = _jax_processes(backend)
    if processes.size > 1:
        from netspec.backends.jax._distributed import follower_paths

        out, resume = follower_paths(processes, out, resume)
        progress = progress and processes.is_writer
    if tensorboard:
        tensorboard_events.require()
    # PyTorch in several processes (torchrun): rank 0 alone writes the run directory.
    world = distributed.join(backend, device)
    device = getattr(world, "device", device)
    progress = progress and world.is_writer
    checked = program.model(model)
    section = program.train(checked.name)
    if section is None:
        raise NetspecError(
            f"model '{checked.name}' has no train section: add `train {checked.name} "
            "{ data ...  loss ...  optimizer ... }` to the spec"
        )
    # NumPy arrays replace the spec's source; its data options still apply.
    arrays = data if isinstance(data, ArrayData) else None
    flags = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
             "data": None if arrays is not None else data, "precision": precision}  # fmt: skip
    if resume is not None:
        opening = start.open_resume(
            checked, section, flags, resume, backend=backend, dtype=dtype, lock=world.is_writer
        )
    else:
        opening = start.open_new(checked, section, flags, out if world.is_writer else None)
    recorded: dict[str, Any] | None = None
    if resume is not None and opening.run_dir is not None:  # a resumed run keeps it
        record = recorded = rundir.read_run_record(opening.run_dir) or {}
        sync_batchnorm = sync_batchnorm or bool(record.get("sync_batchnorm"))
        # The recorded count, not the load's: torch's reductions may split by thread.
        threads = threads or int(record.get("threads") or 0)
    loop: _Loop | None = None
    pools: thread_pools.Pools | None = None
    try:
        if resume is not None:
            fold = start.recorded_fold(opening, fold)
        spec = opening.spec
        check_metrics(spec.metrics, spec.loss.kind, checked.output_type.shape)
        check_precision(spec.precision, backend, dtype)  # before any data is loaded
        check_training_memory(program, checked, spec, backend=backend, device=device, dtype=dtype)
        dataset = load_dataset(
            spec.data,
            input_shape=tuple(checked.inputs[0].shape),
            inputs={spec.name: tuple(spec.shape) for spec in checked.inputs},
            model=checked.name,
            output_shape=checked.output_type.shape,
            loss_kind=spec.loss.kind,
            seed=spec.seed,
            data_dir=data_dir,
            dtype=dtype,
            base_dir=str(Path(spec_path).parent) if spec_path else None,
            arrays=arrays,
            target=spec.target,
            input_dtype=checked.inputs[0].dtype if len(checked.inputs) == 1 else "float32",
            input_name=checked.inputs[0].name,
            input_dtypes={spec.name: spec.dtype for spec in checked.inputs},
            fold=fold,
        )
        start.check_monitor(spec, dataset)
        check_settings(spec, dataset)
        plan = resolve_plan(eval_every, test_at_end, recorded if resume is not None else None)
        check_plan(plan, spec)
        # Once per split and integer input, before any step, so that a bad index names
        # its input and sample there (each batch is checked again where it enters a backend).
        for input_spec in checked.inputs:
            if input_spec.dtype not in INDEX_DTYPES:
                continue
            for split_name, split in dataset.splits().items():
                xs = split.x[input_spec.name] if isinstance(split.x, dict) else split.x
                check_indices(checked, xs, split_name, name=input_spec.name)
        # After loading, so that BLAS libraries the data source loaded are sized too.
        pools = thread_pools.apply(threads, backend)
        compiled = get_backend(backend).compile(  # type: ignore[arg-type]
            checked,
            dtype=dtype,
            device=device,
            seed=spec.seed,
            **({"devices": devices} if devices > 1 else {}),
            **({"compile": True} if compile else {}),
        )
        set_input_statistics(checked, compiled, dataset)
        step = compiled.train_step(spec.loss, spec.optimizer, spec.clip, precision=spec.precision)
        if world.size > 1:
            step.distribute(world, sync_batchnorm=sync_batchnorm)
        # Rank 0 claims the directory; the others learn where it is.
        run_dir = opening.claim(checked.name) if world.is_writer else None
        run_dir = opening.run_dir = Path(world.broadcast(str(run_dir)))
        if world.size > 1 and world.is_writer:
            from netspec.backends.torch._launch import announce_run_dir

            announce_run_dir(run_dir)
        checkpoints = run_dir / "checkpoints"
        if world.is_writer:
            rundir.check_free_space(
                run_dir, _checkpoint_bytes(compiled, step, spec.ema is not None)
            )
        state = opening.state
        if state is not None:
            weights, optimizer_state = load_checkpoint(checkpoints, state)
            compiled.set_parameters(weights)
            step.load_optimizer_state(optimizer_state)
        else:
            run = {"backend": backend, "device": device, "dtype": dtype, "spec": spec_path,
                   "nproc": world.size, "sync_batchnorm": sync_batchnorm}  # fmt: skip
            run["threads"] = pools.threads
            state = start.begin(program, checked, opening, dataset, run, write=world.is_writer)
            extra = {**(start.fold_record(fold) if fold else {}), **plan.record()}
            if extra and world.is_writer:  # beside what begin wrote
                record = rundir.read_run_record(run_dir) or {}
                rundir.write_json(run_dir / "run.json", {**record, **extra})
        if world.is_writer:
            # From the committed state, so a line lost to a kill after a commit comes back.
            rundir.write_metrics(run_dir / "metrics.jsonl", state.history)
        world.barrier()  # the run directory is set up
        loop = _Loop(program, checked, spec, dataset, compiled, step, state, run_dir, progress)
        loop.world = world
        loop.on_epoch = on_epoch
        loop.plan = plan
        loop.prefetch = (
            prefetch_pays(bool(spec.data.augment), backend) if prefetch is None else prefetch
        )
        loop.hooks = RunHooks(
            spec, state, compiled, dataset, run_dir,
            steps_per_epoch=loop.batches, tensorboard=tensorboard and world.is_writer,
        )  # fmt: skip
        for note in opening.notes:
            loop.progress.message(note)
        try:
            loop.run(stop_after)
        finally:
            loop.items.close()  # the prefetch thread of an epoch that ended early
            loop.progress.close()
            loop.hooks.close()
        result = loop.finish()
    except KeyboardInterrupt:
        committed = loop.committed if loop is not None else start.committed(opening)
        raise TrainingInterrupted(opening.run_dir, committed) from None
    finally:
        opening.release()
        world.close()
        if pools is not None:
            pools.restore()
    result.notes = [*opening.notes, *result.notes]
    if processes.size > 1:
        result.run_dir = processes.broadcast(result.run_dir)
    return result


def _jax_processes(backend: str) -> World:
    """The processes running this run's one JAX program: one, unless the jax backend was
    launched as several (docs/distributed.md)."""
    if backend != "jax":
        return SINGLE
    from netspec.backends.jax._distributed import jax_world

    return jax_world()


def _checkpoint_bytes(compiled: CompiledModel, step: Any, ema: bool = False) -> int:
    """About the most a run keeps on disk at once: two checkpoints (the committed one and
    the one being written), the best and the final weights; with ``ema``, the average in
    both checkpoints and weights_ema.safetensors."""
    weights = sum(np.asarray(a).nbytes for a in compiled.parameters().values())
    weights += sum(np.asarray(a).nbytes for a in compiled.state().values())
    optimizer = sum(np.asarray(a).nbytes for a in step.optimizer_state().values())
    average = 3 * weights if ema else 0
    return 2 * (weights + optimizer) + 2 * weights + average + (1 << 20)


class _Loop:
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
