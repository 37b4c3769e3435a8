"""Draw initial parameters from a checked model, once, for every backend.

All randomness comes from one ``numpy.random.Generator(PCG64(seed))`` consumed in the
order the parameters appear in the IR, so the same spec and seed give bit-identical
weights whichever backend runs them. Values are drawn in float64 and cast afterwards.
"""

from __future__ import annotations

import math

import numpy as np

from netspec.ir import CheckedModel, Init
from netspec.ir.init import (
    Constant,
    HeNormal,
    HeUniform,
    LecunNormal,
    LiteralValues,
    Normal,
    Ones,
    Orthogonal,
    Uniform,
    XavierNormal,
    XavierUniform,
    Zeros,
)


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Fan-in and fan-out as PyTorch counts them: [out, in, *kernel] layouts."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def draw(init: Init, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """One parameter's initial values, float64."""
    fan_in, fan_out = fans(shape)
    if isinstance(init, Zeros):
        return np.zeros(shape)
    if isinstance(init, Ones):
        return np.ones(shape)
    if isinstance(init, Constant):
        return np.full(shape, init.value, dtype=np.float64)
    if isinstance(init, Normal):
        return rng.normal(init.mean, init.std, size=shape)
    if isinstance(init, Uniform):
        return rng.uniform(init.low, init.high, size=shape)
    if isinstance(init, XavierNormal):
        return rng.normal(0.0, init.gain * math.sqrt(2.0 / (fan_in + fan_out)), size=shape)
    if isinstance(init, XavierUniform):
        bound = init.gain * math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, size=shape)
    if isinstance(init, HeNormal):
        fan = fan_in if init.mode == "fan_in" else fan_out
        return rng.normal(0.0, math.sqrt(2.0 / fan), size=shape)
    if isinstance(init, HeUniform):
        fan = fan_in if init.mode == "fan_in" else fan_out
        bound = math.sqrt(6.0 / fan)
        return rng.uniform(-bound, bound, size=shape)
    if isinstance(init, LecunNormal):
        return rng.normal(0.0, math.sqrt(1.0 / fan_in), size=shape)
    if isinstance(init, Orthogonal):
        return init.gain * _orthogonal(shape, rng)
    if isinstance(init, LiteralValues):
        return np.asarray(init.values, dtype=np.float64).reshape(init.shape)
    raise TypeError(f"unknown init scheme {init!r}")


def _orthogonal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    # As PyTorch: QR of a normal matrix of shape [rows, cols], sign-corrected.
    rows = shape[0] if shape else 1
    cols = math.prod(shape[1:]) if len(shape) > 1 else 1
    flat = rng.normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(shape)


def initial_params(
    model: CheckedModel, seed: int = 0, dtype: str = "float32"
) -> dict[str, np.ndarray]:
    """Initial parameters and state of ``model``, keyed by name, in IR order."""
    rng = np.random.Generator(np.random.PCG64(seed))
    values: dict[str, np.ndarray] = {}
    for spec in model.params:
        values[spec.name] = draw(spec.init, spec.shape, rng).astype(dtype)
    for state in model.state:
        values[state.name] = np.full(state.shape, state.fill, dtype=dtype)
    return values
