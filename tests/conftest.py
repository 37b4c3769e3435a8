"""Shared fixtures: the repository's paths and the example specs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").glob("*.net"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
