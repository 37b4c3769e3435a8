"""``netspec train --nproc N``: N worker processes started by torch's elastic agent.

The workers are started as torchrun starts them (``torch.distributed.launcher``'s
``elastic_launch``, one machine, a c10d rendezvous on 127.0.0.1, no restarts); each runs
:func:`netspec.training.fit` and joins the group from its environment. The agent watches
them: when one fails or is killed it stops the others, and :func:`launch` turns what
happened into one :class:`NetspecError` (a rank's own NetspecError as it was raised, or
which rank died how, where the last checkpoint is and how to resume).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import importlib.util
import json
import logging
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from netspec.errors import NetspecError
from netspec.ir import Program
from netspec.weights import atomic_write_bytes

# Where the launcher's workers leave their reports (set for the workers only).
REPORTS_ENV = "NETSPEC_LAUNCH_REPORTS"
RUN_DIR_FILE = "run_dir"


def launch(
    program: Program, options: dict[str, Any], *, nproc: int, master_port: int | None
) -> Any:
    """Train with ``options`` (those of :func:`netspec.training.fit`) in ``nproc``
    processes on this machine; returns rank 0's :class:`TrainResult`, its model compiled
    in this process from the run's final weights."""
    if importlib.util.find_spec("torch") is None:
        from netspec._compile import MISSING_FRAMEWORK

        raise NetspecError(MISSING_FRAMEWORK.format(backend="torch", module="torch"))
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
        raise NetspecError(
            f"nproc = {nproc} starts worker processes, but this process is already one of "
            f"{os.environ['WORLD_SIZE']} (started by torchrun): drop --nproc"
        )
    port = _port(master_port)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"netspec-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d",
        rdzv_endpoint=f"127.0.0.1:{port}",
        max_restarts=0,
        monitor_interval=0.1,
        start_method="spawn",
    )
    reports = Path(tempfile.mkdtemp(prefix="netspec-launch-"))
    try:
        # As torchrun does, unless set: the workers share the cores rather than each
        # taking all of them (matters on the CPU; GPU workers need few threads).
        threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // nproc))
        with (
            _quiet_agent(),
            environment_variable(REPORTS_ENV, str(reports)),
            environment_variable("OMP_NUM_THREADS", threads),
        ):
            results = elastic_launch(config, _worker)(program, options)
    except ChildFailedError as failed:
        raise _failure(failed, reports, nproc, options) from None
    except (SignalException, KeyboardInterrupt):
        raise _interrupted(reports) from None
    finally:
        shutil.rmtree(reports, ignore_errors=True)
    return _result(program, results[0], options)


def _port(port: int | None) -> int:
    """The rendezvous port: ``port`` (or MASTER_PORT) when free, else an error; 0 (the
    agent picks a free one) when none is named."""
    if port is None and os.environ.get("MASTER_PORT"):
        text = os.environ["MASTER_PORT"]
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise NetspecError(f"MASTER_PORT must be a port number, found {text!r}")
        port = int(text)
    if port is None:
        return 0
    if not 0 < port < 65536:
        raise NetspecError(f"master_port must be a port number in 1..65535, found {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR: a port some earlier run left in TIME_WAIT is free for the store.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            why = "is in use" if error.errno == errno.EADDRINUSE else f"cannot be used ({error})"
            raise NetspecError(
                f"the rendezvous port {port} {why} (another run, or another program, "
                "listens there): choose another with --master-port, or leave it out to take "
                "a free one"
            ) from None
    return port


@contextlib.contextmanager
def _quiet_agent() -> Iterator[None]:
    # The agent logs each worker's failure with a traceback of its own polling; the
    # error launch() raises says what happened.
    # Each of its modules has a logger with a level of its own.
    names = [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed")]
    loggers = [logging.getLogger(name) for name in ["torch.distributed", *names]]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def environment_variable(name: str, value: str) -> Iterator[None]:
    """``os.environ[name] = value`` inside the block, as it was after."""
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def announce_run_dir(run_dir: Path) -> None:
    """Tell the launcher (if any) where the run directory is: its error names it."""
    reports = os.environ.get(REPORTS_ENV)
    if reports:
        atomic_write_bytes(Path(reports) / RUN_DIR_FILE, str(run_dir).encode())


def _worker(program: Program, options: dict[str, Any]) -> dict[str, Any]:
    """One worker: train, and leave a report of a NetspecError or an interruption for
    the launcher (exiting non-zero, so that the agent stops the other ranks)."""
    from netspec.training.loop import TrainingInterrupted, fit

    rank = os.environ.get("RANK", "0")
    report = Path(os.environ[REPORTS_ENV]) / f"rank-{rank}.json"
    try:
        result = fit(program, **options)
    except TrainingInterrupted:
        atomic_write_bytes(report, json.dumps({"kind": "interrupted"}).encode())
        raise SystemExit(130) from None
    except NetspecError as error:
        kind = f"{type(error).__module__}:{type(error).__qualname__}"
        found = {"kind": "error", "type": kind, "message": str(error)}
        atomic_write_bytes(report, json.dumps(found).encode())
        raise SystemExit(1) from None
    return {
        "history": result.history,
        "run_dir": str(result.run_dir),
        "final": result.final,
        "stopped_early": result.stopped_early,
        "notes": result.notes,
    }


def _result(program: Program, found: dict[str, Any], options: dict[str, Any]) -> Any:
    from netspec.backend import get_backend
    from netspec.training.loop import TrainResult
    from netspec.weights import load_weights

    run_dir = Path(found["run_dir"])
    checked = program.model(options.get("model"))
    model = get_backend("torch").compile(
        checked, dtype=options["dtype"], device=options["device"], seed=0
    )
    model.set_parameters(load_weights(run_dir / "weights.safetensors"))
    return TrainResult(
        history=found["history"],
        model=model,
        run_dir=run_dir,
        final=found["final"],
        stopped_early=found["stopped_early"],
        notes=found["notes"],
    )


def _reports(reports: Path) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for path in reports.glob("rank-*.json"):
        with contextlib.suppress(OSError, ValueError):
            found[int(path.stem.split("-")[1])] = json.loads(path.read_text())
    return found


def _run_dir(reports: Path) -> Path | None:
    try:
        return Path((reports / RUN_DIR_FILE).read_text())
    except OSError:
        return None


def _committed(run_dir: Path | None) -> int | None:
    """The epoch of the run's last complete checkpoint (0: none; None: no run dir)."""
    from netspec.training.checkpoint import read_state

    if run_dir is None:
        return None
    try:
        state = read_state(run_dir / "checkpoints")
    except NetspecError:
        return 0
    return state.epoch if state is not None else 0


def _interrupted(reports: Path) -> BaseException:
    from netspec.training.loop import TrainingInterrupted

    run_dir = _run_dir(reports)
    return TrainingInterrupted(run_dir, _committed(run_dir))


def _failure(failed: Any, reports: Path, nproc: int, options: dict[str, Any]) -> BaseException:
    """One error for a failed launch: the lowest rank's own NetspecError, else which rank
    died how, with where the run can resume from."""
    found = _reports(reports)
    errors = sorted((rank, r) for rank, r in found.items() if r.get("kind") == "error")
    if errors:
        return _rebuilt(errors[0][1])
    if found and all(r.get("kind") == "interrupted" for r in found.values()):
        return _interrupted(reports)
    # The rank a signal killed is the cause; the others failed on losing it.
    failures = sorted(
        failed.failures.items(), key=lambda item: (item[1].exitcode >= 0, item[1].timestamp)
    )
    rank, failure = failures[0]
    if failure.exitcode < 0:
        how = f"exited with signal {failure.signal_name()}"
    else:
        how = f"exited with code {failure.exitcode}"
        message = failure.message
        if isinstance(message, dict):
            message = message.get("message", "")
        if message and message != "<N/A>":
            how += f" ({str(message).strip().splitlines()[-1]})"
    run_dir = _run_dir(reports)
    text = f"rank {rank} of {nproc} {how} during training"
    if run_dir is None:
        return NetspecError(f"{text}, before the run directory was set up; nothing was saved")
    epoch = _committed(run_dir)
    saved = (
        f"the run directory {run_dir} holds the checkpoint of epoch {epoch}"
        if epoch
        else f"no epoch was committed in {run_dir} (resuming starts from epoch 1)"
    )
    command = f"netspec train SPEC --resume {run_dir} --backend torch --nproc {nproc}"
    if options.get("dtype") != "float32":
        command += f" --dtype {options['dtype']}"
    return NetspecError(f"{text}; {saved}; resume with: {command}")


def _rebuilt(report: dict[str, Any]) -> NetspecError:
    """A worker's NetspecError as the same type with the same message."""
    module, _, name = str(report.get("type", "")).partition(":")
    kind: Any = NetspecError
    with contextlib.suppress(ImportError, AttributeError, ValueError):
        kind = getattr(importlib.import_module(module), name)
    if not (isinstance(kind, type) and issubclass(kind, NetspecError)):
        kind = NetspecError
    try:
        return kind(report["message"])  # type: ignore[no-any-return]
    except TypeError:  # a subclass with a constructor of its own
        return NetspecError(report["message"])
