"""The one training loop's entry: fit sets a run up (options, data, backend, run
directory, resume) and runs its epochs (netspec.training.epochs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from netspec._contract import check_indices
from netspec.backend import CompiledModel, get_backend
from netspec.data import load_dataset
from netspec.data._arrays import ArrayData
from netspec.data.for_model import model_data_options
from netspec.data.prefetch import prefetch_pays
from netspec.devices import check_compile, check_devices
from netspec.errors import NetspecError
from netspec.ir import Program
from netspec.ir.graph import INDEX_DTYPES
from netspec.memory import check_training_memory
from netspec.precision import check_precision
from netspec.training import distributed, rundir, start, tensorboard_events
from netspec.training import threads as thread_pools
from netspec.training.checkpoint import load_checkpoint
from netspec.training.distributed import SINGLE, World
from netspec.training.epochs import EpochLoop
from netspec.training.evaluation_plan import check_plan, resolve_plan
from netspec.training.hooks import RunHooks, check_settings
from netspec.training.metrics import check_metrics
from netspec.training.preprocessing import set_input_statistics
from netspec.training.results import TrainingInterrupted, TrainResult


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
    loop: EpochLoop | None = None
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
            **model_data_options(
                checked, spec, data_dir=data_dir, dtype=dtype, spec_path=spec_path
            ),
            arrays=arrays,
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
        loop = EpochLoop(program, checked, spec, dataset, compiled, step, state, run_dir, progress)
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
