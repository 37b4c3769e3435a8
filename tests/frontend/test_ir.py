"""The checked IR as data: every example spec round-trips through JSON, and the JSON
schema of ``Program`` is pinned by a snapshot."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import netspec
from netspec.ir import Program

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.net"))
SNAPSHOT = Path(__file__).parent / "snapshots" / "program_schema.json"
REGENERATE = (
    "python -m netspec schema > tests/frontend/snapshots/program_schema.json "
    "(or run this test with NETSPEC_UPDATE_SNAPSHOTS=1)"
)


def test_there_are_specs_to_test() -> None:
    assert len(SPECS) >= 10


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_program_json_round_trip(path: Path) -> None:
    program = netspec.load(path)
    text = program.model_dump_json()
    again = Program.model_validate_json(text)
    assert again == program
    assert again.model_dump_json() == text
    # The source map survives too: every node of every model has its span.
    for model in again.models:
        for node in model.nodes:
            assert f"{model.name}/{node.name}" in again.source_map


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_program_python_round_trip(path: Path) -> None:
    program = netspec.load(path)
    assert Program.model_validate(program.model_dump()) == program


def test_program_is_frozen_and_strict() -> None:
    from pydantic import ValidationError

    program = netspec.load(ROOT / "specs" / "lenet5.net")
    with pytest.raises(ValidationError):
        program.version = 2  # type: ignore[misc]
    data = json.loads(program.model_dump_json())
    data["models"][0]["nodes"][0]["op"]["filtres"] = 6
    with pytest.raises(ValidationError, match="filtres"):
        Program.model_validate(data)


def _structure(schema: object) -> object:
    """The schema without its ``description`` texts (docstrings), which may change freely."""
    if isinstance(schema, dict):
        return {k: _structure(v) for k, v in schema.items() if k != "description"}
    if isinstance(schema, list):
        return [_structure(v) for v in schema]
    return schema


def test_program_json_schema_matches_the_snapshot() -> None:
    # The contract between the front end and the backends: a change to a field, a type or
    # an op kind must be deliberate. Docstring edits (descriptions) do not count.
    schema = Program.model_json_schema()
    if os.environ.get("NETSPEC_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(schema, indent=2) + "\n")
    assert SNAPSHOT.exists(), f"no schema snapshot; create it with: {REGENERATE}"
    stored = _structure(json.loads(SNAPSHOT.read_text()))
    schema = _structure(schema)  # type: ignore[assignment]
    assert isinstance(stored, dict) and isinstance(schema, dict)
    if stored != schema:
        changed = sorted(
            name
            for name in set(stored.get("$defs", {})) | set(schema.get("$defs", {}))
            if stored.get("$defs", {}).get(name) != schema.get("$defs", {}).get(name)
        )
        pytest.fail(
            "the JSON schema of the checked IR changed"
            + (f" (definitions: {', '.join(changed)})" if changed else "")
            + ". If the change is intended (and backends agree), regenerate the snapshot: "
            + REGENERATE
        )


def test_schema_snapshot_validates_a_real_program() -> None:
    # The snapshot is a usable JSON schema: the IR of a spec has every required field.
    stored = json.loads(SNAPSHOT.read_text())
    data = json.loads(netspec.load(ROOT / "specs" / "mnist_residual.net").model_dump_json())
    assert set(stored["required"]) <= set(data)
    assert set(data) <= set(stored["properties"])
