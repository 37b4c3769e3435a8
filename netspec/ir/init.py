"""Initialisation schemes and per-parameter regularisation, as IR data.

The numbers are drawn once, by :mod:`netspec.initializers`, never by a backend.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from netspec.ir._base import IRModel

FanMode = Literal["fan_in", "fan_out"]


class Zeros(IRModel):
    scheme: Literal["zeros"] = "zeros"


class Ones(IRModel):
    scheme: Literal["ones"] = "ones"


class Constant(IRModel):
    scheme: Literal["constant"] = "constant"
    value: float


class Normal(IRModel):
    scheme: Literal["normal"] = "normal"
    mean: float = 0.0
    std: float = 0.01


class Uniform(IRModel):
    scheme: Literal["uniform"] = "uniform"
    low: float = -0.05
    high: float = 0.05


class XavierNormal(IRModel):
    scheme: Literal["xavier_normal"] = "xavier_normal"
    gain: float = 1.0


class XavierUniform(IRModel):
    scheme: Literal["xavier_uniform"] = "xavier_uniform"
    gain: float = 1.0


class HeNormal(IRModel):
    scheme: Literal["he_normal"] = "he_normal"
    mode: FanMode = "fan_in"


class HeUniform(IRModel):
    scheme: Literal["he_uniform"] = "he_uniform"
    mode: FanMode = "fan_in"


class LecunNormal(IRModel):
    scheme: Literal["lecun_normal"] = "lecun_normal"


class Orthogonal(IRModel):
    scheme: Literal["orthogonal"] = "orthogonal"
    gain: float = 1.0


class LiteralValues(IRModel):
    """Hand-set values, stored flat in row-major order beside their shape."""

    scheme: Literal["literal"] = "literal"
    shape: tuple[int, ...]
    values: tuple[float, ...]


Init = Annotated[
    Zeros
    | Ones
    | Constant
    | Normal
    | Uniform
    | XavierNormal
    | XavierUniform
    | HeNormal
    | HeUniform
    | LecunNormal
    | Orthogonal
    | LiteralValues,
    Field(discriminator="scheme"),
]

INIT_SCHEMES: tuple[str, ...] = (
    "zeros",
    "ones",
    "constant",
    "normal",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "orthogonal",
)


class Regularize(IRModel):
    """Penalties on one parameter. Zero means off; ``max_norm`` None means off."""

    l2: float = 0.0
    l1: float = 0.0
    max_norm: float | None = None

    @property
    def is_off(self) -> bool:
        return self.l2 == 0.0 and self.l1 == 0.0 and self.max_norm is None
