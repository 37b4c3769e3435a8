"""Accuracy experiments on real data: train the book networks to convergence.

Run by hand (it takes tens of minutes on a CPU):

    NETSPEC_DATA_DIR=../shared/data python -m benchmarks.experiments [--only mlp,lenet5]
        [--backends torch] [--results docs/results.json]

Each run trains a spec exactly as its train section says (epochs, optimizer, schedule,
early stopping) and records the final test accuracy, the epochs run and the mean wall
time per epoch. Results accumulate in a JSON file; docs/results.md is rendered from it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
from pathlib import Path

import netspec

ROOT = Path(__file__).resolve().parents[1]

# (spec, the test accuracy the project promises on full data)
TARGETS: dict[str, float] = {
    "digits": 0.96,
    "mlp": 0.980,
    "simple_conv_net": 0.989,
    "lenet5": 0.990,
    "deep_conv_net": 0.993,
}


def run(stem: str, backend: str, runs_root: Path) -> dict[str, object]:
    out = runs_root / f"{stem}-{backend}"
    resume = out if (out / "checkpoints" / "state.json").exists() else None
    result = netspec.train(
        ROOT / "specs" / f"{stem}.net",
        backend=backend,
        progress=False,
        out=None if resume else out,
        resume=resume,
    )
    times = [row["epoch_time"] for row in result.history]
    return {
        "spec": stem,
        "backend": backend,
        "test_accuracy": result.final.get("test_accuracy"),
        "target": TARGETS[stem],
        "epochs": len(result.history),
        "stopped_early": result.stopped_early,
        "seconds_per_epoch": statistics.median(times) if times else None,
        "date": _dt.date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }


def render(results: list[dict[str, object]]) -> str:
    lines = [
        "| spec | backend | test accuracy | target | met | epochs | s / epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        accuracy = r["test_accuracy"]
        met = accuracy is not None and accuracy >= r["target"]  # type: ignore[operator]
        lines.append(
            f"| {r['spec']} | {r['backend']} | {accuracy * 100:.2f}% | "  # type: ignore[operator]
            f"{r['target'] * 100:.1f}% | {'yes' if met else 'no'} | {r['epochs']}"  # type: ignore[operator]
            f"{' (early stop)' if r['stopped_early'] else ''} | {r['seconds_per_epoch']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(TARGETS))
    parser.add_argument("--backends", default="torch")
    parser.add_argument("--results", default=str(ROOT / "docs" / "results.json"))
    parser.add_argument("--runs", default=str(ROOT / "runs" / "experiments"))
    args = parser.parse_args(argv)
    path = Path(args.results)
    results = json.loads(path.read_text()) if path.exists() else []
    for stem in args.only.split(","):
        for backend in args.backends.split(","):
            row = run(stem, backend, Path(args.runs))
            results = [r for r in results if (r["spec"], r["backend"]) != (stem, backend)]
            results.append(row)
            path.write_text(json.dumps(results, indent=2) + "\n")
            print(render([row]).splitlines()[-1], flush=True)
    print(render(results))


if __name__ == "__main__":
    main()
