"""Several training runs side by side: what differs between them, their curves, their
final metrics.

A run is read from its directory alone: ``run.json`` (the resolved train section,
backend, dtype, seed, fold and any ``--set`` overrides), ``ir.json`` (the checked model)
and ``metrics.jsonl`` (one row per completed epoch). Each run is labelled by the settings
in which it differs from the others, so that two runs that differ only in the learning
rate read ``lr=0.1`` and ``lr=0.01``.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netspec.errors import NetspecError
from netspec.weights import atomic_write_bytes

# run.json keys that say nothing about how a run trained (or differ between any two runs).
_IGNORED = frozenset({"format", "spec", "spec_sha256", "versions", "data", "train", "fold"})
# Model differences beyond this many settings are shown as "model variant N".
_MODEL_KEYS_SHOWN = 3
# The columns of the final-metrics table, in this order, where any run has them.
COLUMNS = (
    "train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
)  # fmt: skip


@dataclass
class ComparedRun:
    """One run: its directory, what it recorded, its epochs and (once compared) label."""

    path: Path
    record: dict[str, Any]
    model: dict[str, Any] | None
    history: list[dict[str, Any]]
    # The --set overrides the program was read with (ir.json), as KEY=VALUE.
    program_overrides: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    differs: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, Any]:
        """The last completed epoch's row of metrics.jsonl."""
        return self.history[-1]


def read_run(path: str | os.PathLike[str]) -> ComparedRun:
    """The run in ``path``, or a NetspecError saying why it is not one to compare."""
    run_dir = Path(path)
    if not run_dir.is_dir():
        what = "does not exist" if not run_dir.exists() else "is not a directory"
        raise NetspecError(f"{run_dir} {what}; expected a run directory of `netspec train`")
    record = _json(run_dir / "run.json")
    if not isinstance(record, dict) or record.get("format") is None:
        found = ", ".join(sorted(p.name for p in run_dir.iterdir())[:8]) or "nothing"
        hint = ""
        if (run_dir / "folds.json").is_file():
            hint = "\n  help: it is a cross-validation directory: compare its fold-k runs"
        elif (run_dir / "study.db").is_file():
            hint = "\n  help: it is a sweep directory: compare its trial-NNNN runs"
        raise NetspecError(
            f"{run_dir} is not a run directory: it has no run.json of `netspec train`\n"
            f"  found: {found}{hint}"
        )
    history = _history(run_dir / "metrics.jsonl")
    if not history:
        raise NetspecError(
            f"{run_dir} has no completed epoch yet (metrics.jsonl has no rows): there are "
            "no curves or final metrics to compare"
        )
    ir = _json(run_dir / "ir.json") if (run_dir / "ir.json").is_file() else None
    model = None
    if isinstance(ir, dict):
        model = next(
            (m for m in ir.get("models", []) if m.get("name") == record.get("model")), None
        )
    overrides = ir.get("overrides") if isinstance(ir, dict) else None
    return ComparedRun(run_dir, record, model, history, program_overrides=overrides or [])


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NetspecError(f"cannot read {path} as JSON: {error}") from None


def _history(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as error:
        raise NetspecError(f"cannot read {path}: {error}") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise NetspecError(f"{path}:{number}: not a JSON metrics row ({error.msg})") from None
        if not isinstance(row, dict) or "epoch" not in row:
            raise NetspecError(f"{path}:{number}: a metrics row must be an object with an epoch")
        rows.append(row)
    return rows


def _flatten(value: Any, prefix: str, into: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), into)
    else:
        into[prefix] = value


def settings_of(run: ComparedRun) -> dict[str, Any]:
    """A run's resolved settings as flat ``path -> value`` pairs: the train section
    (``optimizer.lr``, ``batch_size``, ``data.validation``, ...), backend, device, dtype,
    model name, fold, and the model's ops (``dense_1.units``) and initialisations."""
    flat: dict[str, Any] = {}
    train = dict(run.record.get("train") or {})
    train.pop("model", None)
    _flatten(train, "", flat)
    for key, value in run.record.items():
        if key not in _IGNORED and key != "overrides" and key not in flat:
            flat[key] = value
    fold = run.record.get("fold")
    if isinstance(fold, dict):
        flat["fold"] = f"{fold.get('index')}/{fold.get('of')}"
    return flat


def model_settings(run: ComparedRun) -> dict[str, Any]:
    """The model's checked ops and initialisations as flat pairs (``dense_1.units``)."""
    flat: dict[str, Any] = {}
    if run.model is None:
        return flat
    for node in run.model.get("nodes", []):
        op = dict(node.get("op") or {})
        flat[node["name"]] = op.pop("kind", None)
        _flatten(op, node["name"], flat)
    for param in run.model.get("params", []):
        _flatten({"init": param.get("init"), "regularize": param.get("regularize")},
                 param["name"], flat)  # fmt: skip
    for spec in run.model.get("inputs", []):
        flat[f"input {spec.get('name')}"] = spec.get("shape")
    return flat


def _overrides(run: ComparedRun) -> dict[str, Any]:
    """The ``--set KEY=VALUE`` overrides run.json records (a dict, or a list of
    ``KEY=VALUE`` strings), or else those the program in ir.json was read with, as a
    dict (a sweep's trial records its sampled values so)."""
    given = run.record.get("overrides") or run.program_overrides
    if isinstance(given, dict):
        return dict(given)
    if isinstance(given, list):
        pairs = [str(item).partition("=") for item in given]
        return {key: as_number(value) for key, sep, value in pairs if sep}
    return {}


def as_number(text: str) -> Any:
    """An override's value as a number where it is one (so 0.0110565 shows as a number)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _differing(maps: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for m in maps:
        keys += [k for k in m if k not in keys]
    return [k for k in keys if len({_show(m.get(k, _MISSING)) for m in maps}) > 1]


_MISSING = object()  # a setting one run has and another has not


def _show(value: Any) -> str:
    """A setting's value as a label shows it: 0.01, adam, true, none, [1,2], -."""
    if value is _MISSING:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def _short_names(keys: list[str]) -> dict[str, str]:
    """Each key by its last part (``optimizer.lr`` -> ``lr``) unless that is ambiguous."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last, strict=True)}


def _under(key: str, set_keys: list[str]) -> bool:
    """Whether an override of a whole setting (``optimizer``) sets ``key``
    (``optimizer.momentum``), so that the override's value already tells it."""
    return any(key.startswith(f"{set_key.rsplit('.', 1)[-1]}.") for set_key in set_keys)


def _pattern(maps: list[dict[str, Any]], key: str) -> tuple[int, ...]:
    """How ``key`` splits the runs: each run's value as the index of its first run."""
    shown = [_show(m.get(key, _MISSING)) for m in maps]
    return tuple(shown.index(value) for value in shown)


def label_runs(runs: list[ComparedRun]) -> list[str]:
    """Give each run its label (and ``differs``): the model's name where the models
    differ in name, then each setting whose value differs between the runs (overrides
    first, then the resolved settings they do not already name), as ``name=value``.
    Runs that differ in nothing are told apart by their directory names."""
    for run in runs:
        run.settings = settings_of(run)
    overrides = [_overrides(run) for run in runs]
    set_keys = _differing(overrides)
    resolved = _differing([run.settings for run in runs])
    named_by_set = {k.rsplit(".", 1)[-1] for k in set_keys}
    # A setting that splits the runs as an override does is that override's doing
    # (a let constant's value reaching a layer): the override names it.
    explained = {_pattern(overrides, k) for k in set_keys}
    short = _short_names(resolved)
    resolved = [
        k for k in resolved
        if short[k] not in named_by_set and k != "model" and not _under(k, set_keys)
        and _pattern([r.settings for r in runs], k) not in explained
    ]  # fmt: skip
    names = {str(run.record.get("model")) for run in runs}
    models = [model_settings(run) for run in runs] if len(names) == 1 else []
    model_keys = [k for k in (_differing(models) if models else [])
                  if _pattern(models, k) not in explained]  # fmt: skip
    variants: dict[str, int] = {}
    labels = []
    for index, run in enumerate(runs):
        parts = [str(run.record.get("model"))] if len(names) > 1 else []
        differs: dict[str, Any] = {}
        for key in set_keys:
            differs[key] = overrides[index].get(key)
        for key in resolved:
            differs[short[key]] = run.settings.get(key, _MISSING)
        if len(model_keys) > _MODEL_KEYS_SHOWN:
            signature = json.dumps({k: models[index].get(k) for k in model_keys}, default=str)
            differs["model"] = f"variant {variants.setdefault(signature, len(variants) + 1)}"
        else:
            for key in model_keys:
                differs[key] = models[index].get(key, _MISSING)
        parts += [f"{key}={_show(value)}" for key, value in differs.items()]
        run.differs = {k: (None if v is _MISSING else v) for k, v in differs.items()}
        labels.append(", ".join(parts))
    for index, run in enumerate(runs):
        if not labels[index] or labels.count(labels[index]) > 1:
            labels[index] = ", ".join(p for p in (labels[index], run.path.name) if p)
        run.label = labels[index]
    return labels


def compare(paths: list[str | os.PathLike[str]]) -> list[ComparedRun]:
    """The runs of ``paths`` (at least one), read and labelled."""
    if not paths:
        raise NetspecError("compare needs at least one run directory")
    runs = [read_run(path) for path in paths]
    label_runs(runs)
    return runs


def columns(runs: list[ComparedRun]) -> list[str]:
    """The final-metric columns any of ``runs`` has."""
    return [c for c in COLUMNS if any(run.final.get(c) is not None for run in runs)]


def table(runs: list[ComparedRun]) -> str:
    """The final (last completed) epoch of each run as a text table."""
    names = columns(runs)
    header = ["run", "directory", "epochs", *names]
    rows = [
        [run.label, str(run.path), str(run.final["epoch"]),
         *(_figure(name, run.final.get(name)) for name in names)]
        for run in runs
    ]  # fmt: skip
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, ["-" * w for w in widths], *rows]
    ]
    return "\n".join(lines)


def _figure(name: str, value: Any) -> str:
    if value is None:
        return "-"
    return f"{value * 100:.2f}%" if name.endswith("accuracy") else f"{value:.4f}"


def as_json(runs: list[ComparedRun]) -> dict[str, Any]:
    """The comparison as JSON: each run's label, directory, differing settings and final
    row (every metric of its last completed epoch)."""
    return {
        "runs": [
            {
                "label": run.label,
                "path": str(run.path),
                "differs": run.differs,
                "epochs": run.final["epoch"],
                "final": run.final,
            }
            for run in runs
        ]
    }


_SPLIT_NAMES = {"val": "validation", "test": "test"}


def held_out_split(runs: list[ComparedRun]) -> str:
    """The split drawn dashed beside training: ``val`` where any run has a validation
    split, else ``test`` (a run without one is measured on the test split each epoch,
    so that the gap between training and held-out data still shows)."""
    rows = [row for run in runs for row in run.history]
    has_val = any(row.get(f"val_{q}") is not None for row in rows for q in ("loss", "accuracy"))
    return "val" if has_val else "test"


def plot(runs: list[ComparedRun], path: str | os.PathLike[str]) -> None:
    """The curves of ``runs`` overlaid as a PNG, one panel per quantity (loss, and
    accuracy where the runs measure it): a colour per run, train solid, validation dashed
    (or test, where no run has a validation split; see ``held_out_split``). Written
    atomically; needs matplotlib (the ``train`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise NetspecError(
            "drawing the curves needs matplotlib: pip install netspec[train]"
        ) from None
    rows = [row for run in runs for row in run.history]
    quantities = [
        q for q in ("loss", "accuracy") if any(row.get(f"train_{q}") is not None for row in rows)
    ]
    held_out = held_out_split(runs)
    figure, axes = plt.subplots(1, len(quantities), figsize=(5.5 * len(quantities), 4.2))
    axes = [axes] if len(quantities) == 1 else list(axes)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, quantity in zip(axes, quantities, strict=True):
        for index, run in enumerate(runs):
            colour = colours[index % len(colours)]
            epochs = [row["epoch"] for row in run.history]
            for split, style in (("train", "-"), (held_out, "--")):
                # Only the epochs that measured it (eval_every skips some): one line.
                points = [
                    (e, row.get(f"{split}_{quantity}"))
                    for e, row in zip(epochs, run.history, strict=True)
                ]
                points = [(e, v) for e, v in points if v is not None]
                if points:
                    marker = "." if len(points) <= 12 else None  # dots only where few
                    axis.plot(*zip(*points, strict=True), style, color=colour, marker=marker)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axis.set(xlabel="epoch", ylabel=quantity, title=quantity)
    handles = [Line2D([], [], color=colours[i % len(colours)], label=run.label)
               for i, run in enumerate(runs)]  # fmt: skip
    handles += [Line2D([], [], color="black", linestyle="-", label="train"),
                Line2D([], [], color="black", linestyle="--",
                       label=_SPLIT_NAMES[held_out])]  # fmt: skip
    axes[-1].legend(handles=handles, fontsize="small")
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=90)
    plt.close(figure)
    try:
        atomic_write_bytes(path, image.getvalue())
    except OSError as error:
        raise NetspecError(f"cannot write {path}: {error.strerror or error}") from None
