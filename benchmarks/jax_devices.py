"""Group jax-devices: one epoch of the MNIST MLP on one host CPU device and on two.

JAX fixes its devices when it starts, so the group runs in a child process started with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (``python -m
benchmarks.jax_devices``). There, ``netspec.train`` trains ``specs/mlp.net`` for one
epoch with ``devices=1`` and ``devices=2`` in turn, ``rounds`` times, after an untimed
warm-up of each (compilation). The figure is the loop's own ``epoch_time``: shuffled
batching, the steps and the statistics drains, without the evaluation, the checkpoint
or data loading. The first round's final weights of the two are compared, so that the
table also says how far apart two-device and one-device training ended.

Two host devices share the machine's cores: XLA already spreads one device's work over
its thread pool, so the second device adds splitting and an all-reduce per step rather
than compute. The group measures what that costs or gains here; it says nothing of GPUs.
MNIST is read from ``$NETSPEC_DATA_DIR`` (or ``data_dir``); without it the group says it
skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._timing import Spread, table

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "mlp.net"
DEVICES = (1, 2)
MARK = "JAX-DEVICES "
HEAD = ["dtype", "devices", "train samples", "epoch s", "samples/s", "speed-up", "max weight diff"]


@dataclass
class DevicesRow:
    devices: int
    dtype: str
    train_samples: int
    epoch: Spread  # seconds: the loop's epoch_time
    max_weight_diff: float  # against the one-device run of the same round (0 for it)

    @property
    def samples_per_second(self) -> float:
        return self.train_samples / self.epoch.median


@dataclass
class DevicesResult:
    limit: int
    rows: list[DevicesRow] = field(default_factory=list)
    skipped: str | None = None


def data_source(limit: int) -> str:
    return f"mnist(flatten = true, validation = 0.1, limit = {limit})"


def run(
    *,
    rounds: int = 3,
    limit: int = 0,
    dtypes: tuple[str, ...] = ("float32",),
    data_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> DevicesResult:
    """Time the epochs in a child process with two host devices (see the module doc)."""
    data_dir = data_dir or os.environ.get("NETSPEC_DATA_DIR")
    result = DevicesResult(limit=limit)
    if not data_dir:
        result.skipped = "NETSPEC_DATA_DIR is not set (point it at a folder holding mnist/)"
        return result
    if progress:
        progress(f"jax-devices: {limit or 'all'} images, {rounds} round(s)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "SLURM_"))}
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    command = [sys.executable, "-m", "benchmarks.jax_devices", data_dir, str(rounds)]
    command += [str(limit), ",".join(dtypes)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARK)]
    if done.returncode != 0 or not lines:
        result.skipped = f"the child process failed: {done.stderr.strip()[-500:]}"
        return result
    for row in json.loads(lines[-1].removeprefix(MARK)):
        spread = Spread.of(row.pop("epochs"))
        result.rows.append(DevicesRow(epoch=spread, **row))
    return result


def _child(data_dir: str, rounds: int, limit: int, dtypes: list[str]) -> None:
    """In the process with two host devices: time each count's epochs, print JSON."""
    import numpy as np

    import netspec

    program = netspec.load(SPEC)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in dtypes:
            epochs: dict[int, list[float]] = {n: [] for n in DEVICES}
            weights: dict[int, dict[str, np.ndarray]] = {}
            samples = 0
            for index in range(rounds + 1):  # round 0 is the untimed warm-up
                for devices in DEVICES:
                    trained = netspec.train(
                        program,
                        backend="jax",
                        devices=devices,
                        dtype=dtype,
                        epochs=1,
                        data=data_source(limit),
                        data_dir=data_dir,
                        out=Path(tmp) / f"{dtype}-{devices}-{index}",
                        progress=False,
                    )
                    row = trained.history[-1]
                    # The loop reports samples/s as its samples over its epoch_time.
                    samples = round(row["samples_per_second"] * row["epoch_time"])
                    if index:
                        epochs[devices].append(row["epoch_time"])
                    else:
                        weights[devices] = trained.model.parameters()
            for devices in DEVICES:
                diff = max(
                    float(np.max(np.abs(weights[devices][k] - weights[1][k]))) for k in weights[1]
                )
                rows.append(
                    {
                        "devices": devices,
                        "dtype": dtype,
                        "train_samples": samples,
                        "epochs": epochs[devices],
                        "max_weight_diff": diff,
                    }
                )
    print(MARK + json.dumps(rows), flush=True)


def finite(result: DevicesResult) -> bool:
    """Every row has a finite epoch time."""
    return bool(result.rows) and all(row.epoch.finite() for row in result.rows)


def render(result: DevicesResult) -> str:
    title = "### jax-devices: one epoch of the MNIST MLP on 1 and 2 host CPU devices"
    if result.skipped:
        return f"{title}\n\nskipped: {result.skipped}"
    one = {row.dtype: row.epoch.median for row in result.rows if row.devices == 1}
    rows = [
        [
            row.dtype,
            str(row.devices),
            str(row.train_samples),
            row.epoch.fmt(digits=3),
            f"{row.samples_per_second:,.0f}",
            f"{one[row.dtype] / row.epoch.median:.2f}x",
            f"{row.max_weight_diff:.1e}",
        ]
        for row in result.rows
    ]
    return "\n".join(
        [
            title,
            "",
            "`netspec.train(backend='jax', devices=N)` on specs/mlp.net (batch 128), the "
            "loop's epoch_time in seconds, median [IQR] over rounds; speed-up against one "
            "device; the largest difference of the final weights from the one-device run's.",
            "",
            table(
                HEAD,
                rows,
            ),
        ]
    )


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split(","))
