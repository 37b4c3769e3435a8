"""Every example spec's train section loads data that fits its model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import netspec
from netspec.data import load_dataset

ROOT = Path(__file__).resolve().parents[2]
# The specs with a train section.
SPECS = [p for p in sorted((ROOT / "specs").glob("*.net")) if "\ntrain " in p.read_text()]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_data_fits_its_model(
    path: Path, tmp_path: Path, make_idx_dir: Callable[..., dict[str, np.ndarray]]
) -> None:
    program = netspec.load(path)
    assert program.trains
    make_idx_dir(tmp_path / "mnist", n_train=400)  # a tiny stand-in for MNIST
    for train in program.trains:
        model = program.model(train.model)
        data = load_dataset(
            train.data,
            input_shape=model.input.shape,
            output_shape=model.output_type.shape,
            loss_kind=train.loss.kind,
            seed=train.seed,
            data_dir=str(tmp_path),
            target=train.target,
            # A relative path is read against the spec's folder, as netspec train does.
            base_dir=str(path.parent),
            input_dtype=model.input.dtype,
        )
        for split in data.splits().values():
            assert split.x.shape[1:] == model.input.shape
            assert len(split) > 0
        if train.data.limit:
            assert len(data.train) == train.data.limit
