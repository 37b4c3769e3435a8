"""The shared base of every IR model: frozen, strict, JSON round-trippable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class IRModel(BaseModel):
    """Base class of every IR object.

    Frozen so that a checked IR cannot be changed behind the checker's back, and
    ``extra="forbid"`` so that a misspelt field is an error rather than silently dropped.

    The front end builds IR objects with ``model_construct``: it has already checked
    every value, with a diagnostic at its place in the spec, so validating again would
    only cost time. Validation (and the schema build it needs, deferred until then)
    happens where IR comes from outside: ``model_validate`` / ``model_validate_json``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
