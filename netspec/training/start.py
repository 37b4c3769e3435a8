"""Starting or resuming a run: which directory, which settings, which checkpoint.

A resumed run trains with the settings it started with (its train section after the
command-line overrides, recorded in run.json and in every checkpoint); a flag that
contradicts them is an error, except ``--epochs``, which may extend (or shorten, down to
the epochs done) the run and is recorded. A directory whose run never committed a
checkpoint holds nothing worth keeping: ``--resume`` and ``--out`` both start it anew.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netspec.data import Dataset
from netspec.errors import NetspecError
from netspec.ir import CheckedModel, Program
from netspec.ir.train import TrainSpec
from netspec.ops import OPS
from netspec.ops.params import as_written
from netspec.sampling import write_vocabulary
from netspec.training import rundir
from netspec.training.checkpoint import (
    STATE_FILE,
    EpochsChange,
    LoopState,
    read_state,
    remove_unreferenced,
)
from netspec.training.evaluate import CLASSIFICATION
from netspec.training.lock import LOCK_FILE, RunLock
from netspec.training.options import apply_overrides, parse_data_source
from netspec.training.preprocessing import run_record

# The flags a resumed run must agree with, and the train section field each sets.
_FIXED = (
    ("batch_size", "--batch-size"),
    ("lr", "--lr"),
    ("seed", "--seed"),
    ("data", "--data"),
    ("precision", "--precision"),
)


# Train settings newer than the fingerprint, with the value that leaves them out of it.
_ADDED_SETTINGS: dict[str, Any] = {"target": "data", "ema": None, "precision": "fp32"}
# Data source options newer than the fingerprint, likewise (csv column groups).
_ADDED_DATA_OPTIONS: dict[str, Any] = {"inputs": [], "augment": []}


def fingerprint(model: CheckedModel, section: TrainSpec) -> str:
    """The SHA-256 of what a run's weights depend on: the checked model and the spec's train
    section (but its epoch count), without source positions or file names, so that a copy
    of the spec, another path to it or an added comment is the same spec."""
    train = section.model_dump(mode="json", exclude={"epochs"})
    # Settings added since fingerprints began count only when set, so that a run started
    # before them still resumes.
    for name, default in _ADDED_SETTINGS.items():
        if train.get(name) == default:
            del train[name]
    for name, default in _ADDED_DATA_OPTIONS.items():
        if train["data"].get(name, default) == default:
            train["data"].pop(name, None)
    data = {"model": _as_written(model), "train": train}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _as_written(model: CheckedModel) -> dict[str, Any]:
    """The model as fingerprints have always hashed it: each op in its written form, with
    its initialisation and penalties (which the checked op leaves to the ParamSpecs), so
    that a run started before ops had a checked form still resumes; a model of one input
    with its ``input`` as it was written before models had several."""
    params = {spec.name: spec for spec in model.params}
    data = model.model_dump(mode="json")
    if len(model.inputs) == 1:
        # A model of one input is hashed as before models had several.
        data["input"] = data.pop("inputs")[0]
    for node, dumped in zip(model.nodes, data["nodes"], strict=True):
        written = as_written(node.op, OPS[node.op.kind].ir, [params[n] for n in node.params])
        dumped["op"] = written.model_dump(mode="json")
    # Fields added since fingerprints began count only when set (an embedding's zeroed
    # padding row), so that a run started before them still resumes.
    for spec in data["params"]:
        if not spec.get("zero_rows"):
            spec.pop("zero_rows", None)
    return data


@dataclass
class Opening:
    """A run about to train: its settings, its committed state (if any), its directory."""

    spec: TrainSpec
    fingerprint: str
    run_dir: Path | None
    state: LoopState | None = None
    resumed: bool = False
    notes: list[str] = field(default_factory=list)
    lock: RunLock | None = None

    def claim(self, model_name: str) -> Path:
        """Create (for a new run) and lock the directory, check it can be written, and
        clear what a killed run left: temporary files and unreferenced checkpoints."""
        if self.run_dir is None:
            self.run_dir = rundir.default_run_dir(model_name)
        elif not self.resumed:
            with rundir.guarded("create the run directory", self.run_dir):
                self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.lock is None:
            self.lock = _lock(self.run_dir, self.notes)
        if not self.resumed:  # again, now that no other run can start here
            _check_new(self.run_dir, self.notes, earlier=self.lock.existed)
        checkpoints = self.run_dir / "checkpoints"
        rundir.probe_writable(self.run_dir)
        rundir.probe_writable(checkpoints)
        if self.resumed or self.lock.existed:  # else nothing here is a run's to remove
            with rundir.guarded("clean up", self.run_dir):
                rundir.remove_temporaries(self.run_dir)
                remove_unreferenced(checkpoints, self.state)
        return self.run_dir

    def release(self) -> None:
        """Unlock the directory (idempotent)."""
        if self.lock is not None:
            self.lock.release()


def _lock(run_dir: Path, notes: list[str]) -> RunLock:
    lock = RunLock(run_dir)
    if lock.previous_pid is not None:
        notes.append(
            f"process {lock.previous_pid}, which last trained in {run_dir}, is no longer "
            "running; taking over its lock"
        )
    return lock


def open_new(model: CheckedModel, section: TrainSpec, flags: dict[str, Any], out: Any) -> Opening:
    """A new run with the spec's settings and the flags; ``out`` is checked, not created."""
    run_dir = rundir.require_path(out, "--out") if out is not None else None
    opening = Opening(apply_overrides(section, **flags), fingerprint(model, section), run_dir)
    if run_dir is not None:
        rundir.check_new_location(run_dir)
        if run_dir.is_dir():
            _check_new(run_dir, [], earlier=(run_dir / LOCK_FILE).exists())
    return opening


def _check_new(run_dir: Path, notes: list[str], *, earlier: bool) -> None:
    """A new run may use an empty directory, the remains of a run that never committed a
    checkpoint, or a directory of other files none of which it would overwrite. run.json
    or (``earlier``) a lock file left by an earlier run mark a run directory."""
    if rundir.read_run_record(run_dir) is not None or earlier:
        if (run_dir / "checkpoints" / STATE_FILE).exists():
            raise NetspecError(
                f"{run_dir} already holds a training run; continue it with --resume {run_dir} "
                "or choose another --out"
            )
        note = f"{run_dir} holds a run that never completed an epoch; starting a new run in it"
        if note not in notes:
            notes.append(note)
        return
    clashes = rundir.user_files(run_dir)
    if clashes:
        raise NetspecError(
            f"--out {run_dir} already contains {', '.join(clashes)}, which a run would "
            "overwrite; choose another --out or move them"
        )


def open_resume(
    model: CheckedModel,
    section: TrainSpec,
    flags: dict[str, Any],
    resume: Any,
    *,
    backend: str,
    dtype: str,
    lock: bool = True,
) -> Opening:
    """Lock an existing run directory and restore its settings and committed state.
    Without ``lock`` (the ranks of a data-parallel run but the writer) it only reads."""
    run_dir = rundir.require_path(resume, "--resume")
    if not run_dir.is_dir():
        what = "is not a directory" if run_dir.exists() else "does not exist"
        raise NetspecError(f"--resume {run_dir} {what}; name the directory of a training run")
    fingerprint_now = fingerprint(model, section)
    if not lock:
        return _restore(run_dir, section, flags, fingerprint_now, backend, dtype)
    notes: list[str] = []
    held = _lock(run_dir, notes)
    try:
        opening = _restore(run_dir, section, flags, fingerprint_now, backend, dtype)
    except BaseException:
        held.release()
        raise
    opening.lock = held
    opening.notes[:0] = notes
    return opening


def _restore(
    run_dir: Path,
    section: TrainSpec,
    flags: dict[str, Any],
    fingerprint_now: str,
    backend: str,
    dtype: str,
) -> Opening:
    state = read_state(run_dir / "checkpoints")
    record = rundir.read_run_record(run_dir)
    if state is None:
        if record is None and not rundir.is_unused(run_dir):
            raise NetspecError(
                f"--resume {run_dir} is not a training run: it has no run.json and no "
                f"checkpoints/{STATE_FILE}"
            )
        if record is None:
            spec = apply_overrides(section, **flags)
        else:
            _check_same_run(record, run_dir, fingerprint_now, backend, dtype)
            spec = _resolve(_recorded_spec(record.get("train"), run_dir / "run.json"), flags, 0)[0]
        opening = Opening(spec, fingerprint_now, run_dir, resumed=True)
        opening.notes.append(
            f"{run_dir} has no committed checkpoint (the run stopped during its first epoch); "
            "starting it from epoch 1"
        )
        return opening
    _check_same_run(state.model_dump(), run_dir, fingerprint_now, backend, dtype)
    recorded = _recorded_spec(state.train, run_dir / "checkpoints" / STATE_FILE)
    if state.epoch > recorded.epochs:
        raise NetspecError(
            f"{run_dir / 'checkpoints' / STATE_FILE} is not a valid netspec checkpoint state: "
            f"epoch {state.epoch} is beyond the run's {recorded.epochs} epochs"
        )
    spec, changed = _resolve(recorded, flags, state.epoch)
    if changed:
        state.epochs_changes.append(EpochsChange(after_epoch=state.epoch, epochs=spec.epochs))
    state.train = spec.model_dump(mode="json")
    return Opening(spec, fingerprint_now, run_dir, state=state, resumed=True)


def _check_same_run(
    record: dict[str, Any], run_dir: Path, fingerprint_now: str, backend: str, dtype: str
) -> None:
    if record.get("backend") != backend or record.get("dtype") != dtype:
        raise NetspecError(
            f"{run_dir} was trained with backend {record.get('backend')} in "
            f"{record.get('dtype')}; resume it with --backend {record.get('backend')} "
            f"--dtype {record.get('dtype')}"
        )
    if record.get("spec_sha256") != fingerprint_now:
        raise NetspecError(
            f"the spec has changed since {run_dir} was started (its model or train section "
            "differs); start a new run instead of resuming"
        )


def _recorded_spec(data: Any, source: Path) -> TrainSpec:
    try:
        return TrainSpec.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise NetspecError(
            f"{source} does not record valid train settings ({where}: {first['msg']})"
        ) from None


def _resolve(recorded: TrainSpec, flags: dict[str, Any], done: int) -> tuple[TrainSpec, bool]:
    """The run's settings with ``--epochs`` applied; any other flag must agree with them."""
    for name, flag in _FIXED:
        value = flags.get(name)
        if value is None:
            continue
        if name == "data" and isinstance(value, str):
            value = parse_data_source(value)
        if apply_overrides(recorded, **{name: value}) != recorded:
            raise NetspecError(
                f"{flag} {_show(name, flags[name])} contradicts the run, which was started with "
                f"{name.replace('_', ' ')} {_show(name, _current(recorded, name))}; a resumed run "
                f"keeps its settings: drop {flag}, or start a new run with --out"
            )
    epochs = flags.get("epochs")
    if epochs is None or epochs == recorded.epochs:
        return recorded, False
    if epochs < done:
        raise NetspecError(
            f"--epochs {epochs} is fewer than the {done} epochs the run has already completed"
        )
    return apply_overrides(recorded, epochs=epochs), True


def _current(spec: TrainSpec, name: str) -> Any:
    return spec.optimizer.lr if name == "lr" else getattr(spec, name)


def _show(name: str, value: Any) -> str:
    if name != "data":
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    fields = value.model_dump(mode="json", exclude_defaults=True, exclude={"source", "augment"})
    parts = [f"{key} = {json.dumps(item)}" for key, item in fields.items()]
    if value.augment:  # as written in a spec: augment = [random_crop(padding = 4), ...]
        parts.append(f"augment = [{', '.join(_call(entry) for entry in value.augment)}]")
    inner = ", ".join(parts)
    return f'"{value.source}({inner})"' if inner else value.source


def fold_record(fold: tuple[int, int]) -> dict[str, Any]:
    """What run.json records of a cross-validation fold."""
    return {"fold": {"index": fold[0], "of": fold[1]}}


def recorded_fold(opening: Opening, fold: tuple[int, int] | None) -> tuple[int, int] | None:
    """The fold a resumed run trains on: the one its run.json records, which ``fold``
    (when given) must agree with; ``fold`` for a run that recorded nothing yet."""
    assert opening.run_dir is not None, "a resumed run has its directory"
    record = rundir.read_run_record(opening.run_dir)
    if record is None:
        return fold
    data = record.get("fold")
    recorded = (data.get("index"), data.get("of")) if isinstance(data, dict) else None
    if fold is not None and fold != recorded:
        was = f"fold {recorded[0]} of {recorded[1]}" if recorded else "on no fold"
        raise NetspecError(
            f"fold {fold[0]} of {fold[1]} contradicts the run in {opening.run_dir}, which was "
            f"started {was}; a resumed run keeps its settings"
        )
    return recorded  # type: ignore[return-value]


def _call(entry: Any) -> str:
    """An augmentation as the spec writes it: its name, then the arguments it sets."""
    fields = entry.model_dump(mode="json", exclude_defaults=True, exclude={"kind"})
    args = ", ".join(
        f"{key} = {item if isinstance(item, str) else json.dumps(item)}"
        for key, item in fields.items()
    )
    return f"{entry.kind}({args})" if args else entry.kind


def begin(
    program: Program,
    checked: CheckedModel,
    opening: Opening,
    dataset: Dataset,
    run: dict[str, Any],
    *,
    write: bool,
) -> LoopState:
    """Record a new run (run.json first: it marks the directory as a run) and its state;
    ``run`` holds backend, device, dtype, spec (its path), nproc, sync_batchnorm and
    threads.
    Only the writer (``write``) of a data-parallel run writes the files."""
    assert opening.run_dir is not None, "claimed before it begins"
    spec = opening.spec
    if write:
        rundir.write_json(
            opening.run_dir / "run.json",
            {
                "format": rundir.RUN_FORMAT,
                "model": checked.name,
                "spec": run["spec"],
                # The spec's values replaced with --set, as KEY=VALUE: what tells runs apart.
                "overrides": list(program.overrides),
                "spec_sha256": opening.fingerprint,
                "backend": run["backend"],
                "device": run["device"],
                "dtype": run["dtype"],
                "seed": spec.seed,
                "nproc": run["nproc"],
                "sync_batchnorm": run["sync_batchnorm"],
                "threads": run.get("threads"),  # the CPU pools' size (per worker)
                "train": spec.model_dump(mode="json"),
                "data": dataset.describe(),
                **run_record(dataset),
                "versions": rundir.framework_versions(run["backend"]),
            },
        )
        rundir.write_json(opening.run_dir / "ir.json", program.model_dump(mode="json"))
        if dataset.vocabulary is not None:
            # What a text source's indices stand for: `netspec sample` reads it.
            write_vocabulary(opening.run_dir, dataset.vocabulary, dataset.source)
    return LoopState(
        epoch=0,
        step=0,
        backend=run["backend"],
        dtype=run["dtype"],
        spec_sha256=opening.fingerprint,
        train=spec.model_dump(mode="json"),
    )


def committed(opening: Opening) -> int | None:
    """The epoch of the checkpoint a run stopped before its loop began can resume from."""
    if opening.run_dir is None or opening.lock is None:
        return None
    return opening.state.epoch if opening.state is not None else 0


def check_monitor(spec: TrainSpec, dataset: Dataset) -> None:
    """Early stopping must watch something the run measures: say so before training."""
    rule = spec.early_stopping
    if rule is None:
        return
    split = {"val": dataset.validation, "test": dataset.test}.get(rule.monitor.split("_")[0])
    if rule.monitor.startswith(("val", "test")) and split is None:
        fix = (
            "add validation = 0.1 to the data source"
            if rule.monitor.startswith("val")
            else "the data source has no test split"
        )
        raise NetspecError(
            f"early_stopping monitors {rule.monitor}, which this run cannot measure: {fix}"
        )
    if rule.monitor.endswith("accuracy") and spec.loss.kind not in CLASSIFICATION:
        raise NetspecError(
            f"early_stopping monitors {rule.monitor}, but {spec.loss.kind} is a regression loss: "
            "monitor val_loss instead"
        )
