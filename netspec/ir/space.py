"""Search spaces: a value a spec leaves open (``log_uniform(1e-5, 1e-2)``) for a sweep.

A space stands where a number (or, for ``choice``, any value) may stand: a ``let``
constant, a layer's argument, a train setting or an argument of one. Each is named by
its *path*, the key that ``--set`` would give it: ``let.width``, ``dense_1.units``,
``optimizer.lr``, ``optimizer`` (a model's name goes first when a file has several:
``mlp.dense_1.units``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from netspec.ir._base import IRModel
from netspec.ir.graph import Span

# A choice's option: a number as itself, anything else (a name, a call, a string, a
# list) as the spec text that writes it, e.g. "adam(lr = 1e-3)" or "relu".
Option = bool | int | float | str


class Uniform(IRModel):
    """A real number drawn uniformly from [low, high]."""

    kind: Literal["uniform"] = "uniform"
    low: float
    high: float


class LogUniform(IRModel):
    """A positive real number whose logarithm is uniform: [low, high], 0 < low."""

    kind: Literal["log_uniform"] = "log_uniform"
    low: float
    high: float


class IntUniform(IRModel):
    """An integer drawn uniformly from low .. high, both included."""

    kind: Literal["int_uniform"] = "int_uniform"
    low: int
    high: int


class Choice(IRModel):
    """One of the options, as written (see :data:`Option`)."""

    kind: Literal["choice"] = "choice"
    options: tuple[Option, ...] = Field(min_length=1)


SearchSpace = Annotated[Uniform | LogUniform | IntUniform | Choice, Field(discriminator="kind")]


class SpaceSite(IRModel):
    """One search space of a spec: where it stands (``path``), what it is, and where it
    is written (``span``, the whole ``kind(...)`` call; ``text``, that call's text)."""

    path: str
    space: SearchSpace
    span: Span
    text: str

    def describe(self) -> str:
        """``optimizer.lr = log_uniform(1e-05, 0.01) at t.net:9:22``."""
        where = f"{self.span.file}:{self.span.line}:{self.span.column}"
        return f"{self.path} = {self.text} at {where}"
