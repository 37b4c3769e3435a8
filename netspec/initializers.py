"""Draw initial parameters from a checked model, once, for every backend.

All randomness comes from one ``numpy.random.Generator(PCG64(seed))`` consumed in the
order the parameters appear in the IR, so the same spec and seed give bit-identical
weights whichever backend runs them. Values are drawn in float64 and cast afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from netspec.ir import CheckedModel, Init

# One function per init scheme, named after it: ``draw_<scheme>(shape, rng, **fields)``
# with the scheme's fields as keywords. They read only ``np``, ``math`` and ``fans``, so a
# generated module copies them as they are (netspec.codegen._shared) and draws the same
# bits from the same generator.


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Fan-in and fan-out as PyTorch counts them: [out, in, *kernel] layouts."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def draw_zeros(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return np.zeros(shape)


def draw_ones(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return np.ones(shape)


def draw_constant(shape: tuple[int, ...], rng: np.random.Generator, value: float) -> np.ndarray:
    return np.full(shape, value, dtype=np.float64)


def draw_literal(
    shape: tuple[int, ...], rng: np.random.Generator, values: tuple[float, ...]
) -> np.ndarray:
    """Hand-set values, given flat in row-major order."""
    return np.asarray(values, dtype=np.float64).reshape(shape)


def draw_normal(
    shape: tuple[int, ...], rng: np.random.Generator, mean: float, std: float
) -> np.ndarray:
    return rng.normal(mean, std, size=shape)


def draw_uniform(
    shape: tuple[int, ...], rng: np.random.Generator, low: float, high: float
) -> np.ndarray:
    return rng.uniform(low, high, size=shape)


def draw_xavier_normal(shape: tuple[int, ...], rng: np.random.Generator, gain: float) -> np.ndarray:
    fan_in, fan_out = fans(shape)
    return rng.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def draw_xavier_uniform(
    shape: tuple[int, ...], rng: np.random.Generator, gain: float
) -> np.ndarray:
    fan_in, fan_out = fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape)


def draw_he_normal(shape: tuple[int, ...], rng: np.random.Generator, mode: str) -> np.ndarray:
    fan_in, fan_out = fans(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    return rng.normal(0.0, math.sqrt(2.0 / fan), size=shape)


def draw_he_uniform(shape: tuple[int, ...], rng: np.random.Generator, mode: str) -> np.ndarray:
    fan_in, fan_out = fans(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    bound = math.sqrt(6.0 / fan)
    return rng.uniform(-bound, bound, size=shape)


def draw_lecun_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    fan_in, _ = fans(shape)
    return rng.normal(0.0, math.sqrt(1.0 / fan_in), size=shape)


def draw_orthogonal(shape: tuple[int, ...], rng: np.random.Generator, gain: float) -> np.ndarray:
    """As PyTorch: QR of a normal matrix of shape [rows, cols], sign-corrected."""
    rows = shape[0] if shape else 1
    cols = math.prod(shape[1:]) if len(shape) > 1 else 1
    flat = rng.normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


def drawer(init: Init) -> tuple[Callable[..., np.ndarray], dict[str, Any]]:
    """The function drawing ``init``'s scheme and its keyword arguments."""
    fields = init.model_dump(exclude={"scheme", "shape"})
    fn = globals().get(f"draw_{init.scheme}")
    if fn is None:
        raise TypeError(f"unknown init scheme {init!r}")
    return fn, fields


def draw(init: Init, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """One parameter's initial values, float64."""
    fn, fields = drawer(init)
    return fn(shape, rng, **fields)


def initial_params(
    model: CheckedModel, seed: int = 0, dtype: str = "float32"
) -> dict[str, np.ndarray]:
    """Initial parameters and state of ``model``, keyed by name, in IR order."""
    rng = np.random.Generator(np.random.PCG64(seed))
    values: dict[str, np.ndarray] = {}
    for spec in model.params:
        value = draw(spec.init, spec.shape, rng)
        if spec.zero_rows:
            # An embedding's padding row starts at zero, after the draw (as PyTorch does).
            value[list(spec.zero_rows)] = 0.0
        values[spec.name] = value.astype(dtype)
    for state in model.state:
        values[state.name] = np.full(state.shape, state.fill, dtype=dtype)
    return values
