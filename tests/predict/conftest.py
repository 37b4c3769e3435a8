"""Runs made by short real trainings, shared by the prediction tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import netspec

# An image classifier on scikit-learn's 8 x 8 digits, taking the pictures as they are.
IMAGE_SPEC = """\
netspec 1

model pictures(x: [1, 8, 8]) {
    flatten
    dense(16) -> relu
    dense(10)
}

train pictures {
    data digits(test = 0.2)
    loss softmax_cross_entropy
    optimizer adam(lr = 0.01)
    batch_size 64
    epochs 2
    seed 0
}
"""

# A classifier on a csv file: numbers (standardised) and a category, text labels.
CSV_SPEC = """\
netspec 1

model flowers(x: [5]) {
    dense(8) -> relu
    dense(3)
}

train flowers {
    data csv(path = "flowers.csv", target = "kind", categorical = ["colour"])
    loss softmax_cross_entropy
    optimizer adam(lr = 0.05)
    batch_size 16
    epochs 3
    seed 0
}
"""
COLOURS = ("blue", "red", "white")
KINDS = ("iris", "rose", "tulip")


@dataclass(frozen=True)
class TrainedRun:
    spec: Path
    run_dir: Path


def write_flowers(path: Path, rows: int, seed: int, *, target: bool = True) -> list[list[str]]:
    """A csv file of ``rows`` flowers (length, width in the hundreds, so that a model
    without the training statistics would be far off); returns the rows' cells."""
    rng = np.random.default_rng(seed)
    cells = []
    for _ in range(rows):
        length, width = rng.normal(100, 20), rng.normal(50, 10)
        colour = COLOURS[int(rng.integers(3))]
        kind = KINDS[(int(length > 100) + COLOURS.index(colour)) % 3]
        cells.append([f"{length:.3f}", f"{width:.3f}", colour] + ([kind] if target else []))
    header = "length,width,colour" + (",kind" if target else "")
    path.write_text(header + "\n" + "\n".join(",".join(row) for row in cells) + "\n")
    return cells


def _train(folder: Path, spec_text: str, name: str) -> TrainedRun:
    spec = folder / f"{name}.net"
    spec.write_text(spec_text)
    result = netspec.train(spec, out=str(folder / "run"), progress=False)
    return TrainedRun(spec=spec, run_dir=Path(result.run_dir))


@pytest.fixture(scope="session")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    pytest.importorskip("sklearn", reason="digits needs scikit-learn (pip install netspec[train])")
    return _train(tmp_path_factory.mktemp("image_run"), IMAGE_SPEC, "pictures")


@pytest.fixture(scope="session")
def csv_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    folder = tmp_path_factory.mktemp("csv_run")
    write_flowers(folder / "flowers.csv", 120, seed=0)
    return _train(folder, CSV_SPEC, "flowers")
