"""fit's on_epoch callback: each committed epoch's row, and an exception that ends the
run there with that epoch's checkpoint kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from netspec.ir import Program
from netspec.training import fit


class Stop(Exception):
    """What a callback raises to end a run (a sweep's pruner raises its own)."""


def test_the_callback_sees_every_epoch_row(tiny: Program, tmp_path: Path) -> None:
    rows: list[dict] = []
    result = fit(tiny, out=tmp_path / "run", on_epoch=rows.append, progress=False)
    assert rows == result.history


def test_what_the_callback_raises_ends_the_run_after_that_epoch(
    tiny: Program, tmp_path: Path
) -> None:
    def stop_at_two(row: dict) -> None:
        if row["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        fit(tiny, out=tmp_path / "run", on_epoch=stop_at_two, progress=False)
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2
    rest = fit(tiny, resume=tmp_path / "run", progress=False)  # its checkpoint is complete
    assert [row["epoch"] for row in rest.history] == [1, 2, 3]
