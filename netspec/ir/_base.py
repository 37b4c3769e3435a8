"""The shared base of every IR model: frozen, strict, JSON round-trippable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class IRModel(BaseModel):
    """Base class of every IR object.

    Frozen so that a checked IR cannot be changed behind the checker's back, and
    ``extra="forbid"`` so that a misspelt field is an error rather than silently dropped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
