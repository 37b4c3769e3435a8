"""JAX as several processes: ``jax.distributed`` and the :class:`World` it gives the loop.

A run is several processes when the launcher says so, before JAX starts:

- ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0), ``JAX_NUM_PROCESSES`` and
  ``JAX_PROCESS_ID``, set by hand or by a script (docs/distributed.md), or
- SLURM with more than one task (``srun``), which ``jax.distributed.initialize`` reads
  itself (``SLURM_NTASKS``, ``SLURM_PROCID``, the node list).

Then :func:`jax_world` calls ``jax.distributed.initialize`` once, and every process sees
the devices of all of them (``jax.devices()``); the model's mesh spans them
(:mod:`netspec.backends.jax._mesh`). On CPU the processes reduce over gloo
(``jax_cpu_collectives_implementation``), set here before JAX starts.

The processes run one global program: each holds the whole dataset, draws the same
batches and computes the same replicated parameters and statistics, so the loop needs
no share of a batch and no sum of statistics. Only rank 0 (``is_writer``) keeps a run
directory; :func:`follower_paths` gives the others a private one, removed at exit.
"""

from __future__ import annotations

import atexit
import os
import pickle
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

from netspec.errors import NetspecError
from netspec.training.distributed import SINGLE, World
from netspec.training.lock import LOCK_FILE

T = TypeVar("T")

COORDINATOR = "JAX_COORDINATOR_ADDRESS"
NUM_PROCESSES = "JAX_NUM_PROCESSES"
PROCESS_ID = "JAX_PROCESS_ID"

INCOMPLETE = "JAX runs as several processes only with all of {names} set; found only {found}"
STARTED = (
    "the environment asks for JAX in {count} processes, but JAX had already started in "
    "this one, and jax.distributed must be initialised first"
)
STARTED_HELP = "run `netspec train` (or netspec.train) in a fresh process"
SHUTDOWN_TIMEOUT_S = 60
NOT_AN_INT = "{name} must be a whole number, found {value!r}"


def launched_processes() -> int:
    """How many processes the environment says train together (1 when it says nothing)."""
    given = [name for name in (COORDINATOR, NUM_PROCESSES, PROCESS_ID) if os.environ.get(name)]
    if given and len(given) < 3:
        raise NetspecError(
            INCOMPLETE.format(
                names=f"{COORDINATOR}, {NUM_PROCESSES}, {PROCESS_ID}", found=", ".join(given)
            )
        )
    if given:
        return _int_env(NUM_PROCESSES)
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID")
    if all(name in os.environ for name in slurm):
        return _int_env("SLURM_NTASKS")
    return 1


def jax_world() -> World:
    """The world of this run: :data:`SINGLE`, or after ``jax.distributed.initialize`` a
    :class:`JaxWorld` of the launched processes (see the module docstring)."""
    count = launched_processes()
    if count <= 1:
        return SINGLE
    import jax
    from jax._src import distributed

    if distributed.global_state.client is not None:  # initialised already (a second run)
        return JaxWorld()
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        raise NetspecError(STARTED.format(count=count), help=STARTED_HELP)
    # gloo carries the CPU backend's cross-process reductions (the default in jax 0.10;
    # set so that a changed default cannot turn them off).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    given = (
        {"num_processes": _int_env(NUM_PROCESSES), "process_id": _int_env(PROCESS_ID)}
        if os.environ.get(COORDINATOR)
        else {}  # SLURM: JAX reads its variables itself
    )
    # At exit every process waits for the others at a shutdown barrier. A run's processes
    # finish together (the last collective returns the run directory), so the wait is
    # short; when one process failed, the others end after this long rather than 300 s.
    jax.distributed.initialize(**given, shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_S)
    return JaxWorld()


class JaxWorld:
    """A :class:`netspec.training.distributed.World` over ``jax.distributed``'s processes."""

    def __init__(self) -> None:
        import jax

        self.rank = jax.process_index()
        self.size = jax.process_count()
        # The launcher's count of processes on this machine, where it gives one.
        self.local_rank = int(os.environ.get("SLURM_LOCALID", os.environ.get("LOCAL_RANK", 0)))
        self._barriers = 0

    @property
    def is_writer(self) -> bool:
        """True on rank 0, the process that writes the run directory."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every process has reached this call."""
        from jax.experimental import multihost_utils

        self._barriers += 1
        multihost_utils.sync_global_devices(f"netspec-{self._barriers}")

    def sum(self, values: Sequence[float]) -> list[float]:
        """The element-wise sum over processes of ``values``, in float64."""
        import jax
        from jax.experimental import multihost_utils

        with jax.enable_x64(True):  # float64 stays float64 only with x64 on
            gathered = multihost_utils.process_allgather(np.asarray(values, np.float64))
        return [float(v) for v in np.asarray(gathered).reshape(self.size, -1).sum(axis=0)]

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` (small and picklable) on every process."""
        from jax.experimental import multihost_utils

        # Broadcasts need one shape everywhere: the length first, then the bytes.
        data = np.frombuffer(pickle.dumps(value), np.uint8) if self.is_writer else None
        size = int(multihost_utils.broadcast_one_to_all(np.int32(0 if data is None else len(data))))
        padded = np.zeros(size, np.uint8) if data is None else data
        received = np.asarray(multihost_utils.broadcast_one_to_all(padded))
        return pickle.loads(received.tobytes())  # type: ignore[no-any-return]

    def close(self) -> None:
        """Nothing to do: jax.distributed shuts down when the process exits."""
        return None


def follower_paths(
    world: World, out: str | Path | None, resume: str | Path | None
) -> tuple[str | Path | None, str | Path | None]:
    """``out`` and ``resume`` for this process: as given on the writer; on the others a
    private run directory (a copy of ``resume``'s, made before the writer changes it),
    removed when the process exits. Every process calls this (it waits for the others).

    A bad ``out`` would stop the writer alone while the others wait for it in their
    first collective, so the writer checks it here and every process raises its error.
    """
    problem = _check_out(out) if world.is_writer and resume is None else None
    problem = world.broadcast(problem)
    if problem is not None:
        raise problem
    if world.is_writer:
        world.barrier()
        return out, resume
    private = Path(tempfile.mkdtemp(prefix=f"netspec-rank{world.rank}-"))
    atexit.register(shutil.rmtree, private, True)
    run = private / "run"
    if resume is not None and Path(resume).is_dir():
        shutil.copytree(resume, run, ignore=shutil.ignore_patterns(LOCK_FILE))
        resume = run
    world.barrier()
    # Not a directory: the process fails as the writer does, with the same error.
    return (run if resume is None else out), resume


def _check_out(out: str | Path | None) -> NetspecError | None:
    """The error that ``--out`` gives a new run before it starts (as start.open_new)."""
    from netspec.training import rundir, start

    if out is None:
        return None
    try:
        path = rundir.require_path(out, "--out")
        rundir.check_new_location(path)
        if path.is_dir():
            start._check_new(path, [], earlier=(path / LOCK_FILE).exists())
    except NetspecError as error:
        return error
    return None


def _int_env(name: str) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value)
    except ValueError:
        raise NetspecError(NOT_AN_INT.format(name=name, value=value)) from None
