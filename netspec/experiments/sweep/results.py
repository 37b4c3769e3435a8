"""A sweep's results: every trial's row sorted by the objective, results.csv and
results.json, best.net (the spec with the best values written in), and two plots."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from netspec.experiments.sweep.objective import trial_dir
from netspec.experiments.sweep.settings import SweepSettings
from netspec.experiments.sweep.study import FAILURE, RERUN_OF, import_optuna, open_study
from netspec.training import rundir
from netspec.weights import atomic_write_bytes

RESULTS_CSV, RESULTS_JSON, BEST_SPEC = "results.csv", "results.json", "best.net"
HISTORY_PNG, PARAMS_PNG = "history.png", "params.png"
_ORDER = {"complete": 0, "pruned": 1, "failed": 2, "interrupted": 3}


def rows(directory: Path, settings: SweepSettings) -> list[dict[str, Any]]:
    """Every trial that started, as a row, best first: completed trials by their
    objective, then pruned ones (by the last value they reported), then failed ones."""
    optuna = import_optuna()
    state = optuna.trial.TrialState
    study, _ = open_study(directory, settings)
    trials = study.get_trials(deepcopy=False)
    rerun = {t.user_attrs.get(RERUN_OF) for t in trials}
    table = []
    for trial in trials:
        if trial.state in (state.WAITING, state.RUNNING):
            continue
        kind = {state.COMPLETE: "complete", state.PRUNED: "pruned"}.get(trial.state, "failed")
        if kind == "failed" and FAILURE not in trial.user_attrs:
            kind = "interrupted" if trial.number in rerun else "failed"
        reported = trial.intermediate_values
        last = reported[max(reported)] if reported else None
        table.append({
            "trial": trial.number,
            "state": kind,
            "objective": trial.value if kind == "complete" else None,
            "std": trial.user_attrs.get("std"),
            "last_reported": last,
            "epochs": trial.user_attrs.get("epochs"),
            "run": trial_dir(directory, trial.number).name,
            "params": dict(trial.params),
            "failure": trial.user_attrs.get(FAILURE),
        })  # fmt: skip
    sign = -1.0 if settings.direction == "maximize" else 1.0

    def order(row: dict[str, Any]) -> tuple[int, float, int]:
        value = row["objective"] if row["state"] == "complete" else row["last_reported"]
        key = sign * value if value is not None and math.isfinite(value) else math.inf
        return _ORDER[row["state"]], key, row["trial"]

    return sorted(table, key=order)


def write(
    directory: Path, settings: SweepSettings, sites: tuple[Any, ...], table: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """Write results.csv, results.json, best.net and the plots; the best row (None when
    no trial completed)."""
    paths = [site.path for site in sites]
    best = next((row for row in table if row["state"] == "complete"), None)
    _write_text(directory / RESULTS_CSV, _csv(table, paths, settings.objective))
    rundir.write_json(
        directory / RESULTS_JSON,
        {"objective": settings.objective, "direction": settings.direction,
         "best": best, "trials": table},
    )  # fmt: skip
    if best is not None:
        from netspec.experiments.sweep.objective import spec_text

        text = spec_text(settings, best["params"])
        _write_text(directory / BEST_SPEC, text)
    plots(directory, settings, sites, table)
    return best


def _write_text(path: Path, text: str) -> None:
    with rundir.guarded("write", path):
        atomic_write_bytes(path, text.encode("utf-8"))


def _csv(table: list[dict[str, Any]], paths: list[str], objective: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["trial", "state", objective, "std", "last_reported", "epochs", *paths, "run", "failure"]
    )
    for row in table:
        writer.writerow([
            row["trial"], row["state"], _blank(row["objective"]), _blank(row["std"]),
            _blank(row["last_reported"]), _blank(row["epochs"]),
            *(_blank(row["params"].get(p)) for p in paths),
            row["run"], row["failure"] or "",
        ])  # fmt: skip
    return out.getvalue()


def _blank(value: Any) -> str:
    return "" if value is None else (repr(value) if isinstance(value, float) else str(value))


def table_text(table: list[dict[str, Any]], sites: tuple[Any, ...], objective: str) -> str:
    """The rows as a text table, best first."""
    paths = [site.path for site in sites]
    header = ["trial", "state", objective, "epochs", *paths]
    lines = []
    for row in table:
        value = row["objective"]
        shown = "-" if value is None else f"{value:.4f}"
        if value is not None and row["std"] is not None:
            shown += f" ± {row['std']:.4f}"
        if row["state"] == "pruned" and row["last_reported"] is not None:
            shown = f"({row['last_reported']:.4f})"
        lines.append([
            str(row["trial"]), row["state"], shown, _blank(row["epochs"]) or "-",
            *(_value(row["params"].get(p)) for p in paths),
        ])  # fmt: skip
    widths = [max(len(r[c]) for r in [header, *lines]) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, ["-" * w for w in widths], *lines]
    )


def _value(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plots(
    directory: Path, settings: SweepSettings, sites: tuple[Any, ...], table: list[dict[str, Any]]
) -> bool:
    """history.png (each trial's objective by trial number, the best so far as a line)
    and params.png (the objective against each parameter); False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    done = sorted((r for r in table if r["state"] == "complete"), key=lambda r: r["trial"])
    pruned = [r for r in table if r["state"] == "pruned" and r["last_reported"] is not None]
    objective = settings.objective
    sign = 1.0 if settings.direction == "maximize" else -1.0
    figure, axis = plt.subplots(figsize=(6.5, 4))
    axis.plot([r["trial"] for r in done], [r["objective"] for r in done], "o", label="complete")
    if pruned:
        axis.plot([r["trial"] for r in pruned], [r["last_reported"] for r in pruned], "x",
                  color="grey", label="pruned (last reported)")  # fmt: skip
    if done:
        pick = max if settings.direction == "maximize" else min
        best, so_far = [], None
        for r in done:
            so_far = r["objective"] if so_far is None else pick(so_far, r["objective"])
            best.append(so_far)
        axis.step([r["trial"] for r in done], best, where="post", label="best so far")
    axis.set(xlabel="trial", ylabel=objective, title=f"{objective} by trial")
    axis.legend()
    _save(figure, directory / HISTORY_PNG)
    columns = max(1, min(3, len(sites)))
    lines = math.ceil(len(sites) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4.5 * columns, 3.6 * lines), squeeze=False)
    for index, site in enumerate(sites):
        axis = axes[index // columns][index % columns]
        xs = [r["params"].get(site.path) for r in done]
        ys = [r["objective"] for r in done]
        if site.space.kind == "choice":
            labels = [str(o) for o in site.space.options]
            axis.set_xticks(range(len(labels)), labels, rotation=20, fontsize="small")
            xs = [labels.index(str(x)) if str(x) in labels else math.nan for x in xs]
        else:  # the whole range searched, so that where the trials fell shows
            if site.space.kind == "log_uniform":
                axis.set_xscale("log")
            axis.set_xlim(site.space.low, site.space.high)
        axis.plot(xs, ys, "o")
        if done:
            best = max(done, key=lambda r: r["objective"] * sign)
            x = xs[done.index(best)]
            axis.plot([x], [best["objective"]], "*", markersize=14, label="best")
            axis.legend(fontsize="small")
        axis.set(xlabel=site.path, ylabel=objective)
    for index in range(len(sites), lines * columns):
        axes[index // columns][index % columns].set_visible(False)
    figure.suptitle(f"{objective} against each parameter (completed trials)")
    _save(figure, directory / PARAMS_PNG)
    return True


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=80)
    plt.close(figure)
    with rundir.guarded("write", path):
        atomic_write_bytes(path, image.getvalue())
