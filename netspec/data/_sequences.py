"""Synthetic sequence sources, generated from the seed: sine, adding, copy.

Every sample is time-major, [steps, features], so that the same arrays reach every
backend; they are drawn from the seed's generation stream alone.
"""

from __future__ import annotations

import math

import numpy as np

from netspec.data._raw import Raw
from netspec.data._split import GENERATE, rng_for
from netspec.data._synthetic import BAD_COUNT, _noise, _positive
from netspec.errors import NetspecError
from netspec.ir.train import AddingData, CopyData, SineData

# Frequencies are in cycles per step: from half a cycle per step on a sampled sine is the
# alias of a slower one (Nyquist), so the range stops there.
NYQUIST = 0.5


def _frequencies(spec: SineData) -> None:
    low, high = spec.min_frequency, spec.max_frequency
    for option, value in (("min_frequency", low), ("max_frequency", high)):
        if not (math.isfinite(value) and 0 < value < NYQUIST):
            raise NetspecError(
                BAD_COUNT.format(
                    source="sine",
                    option=option,
                    value=value,
                    expected=f"a frequency in (0, {NYQUIST}) cycles per step",
                    fix=f"write e.g. {option} = 0.05",
                )
            )
    if low > high:
        raise NetspecError(
            BAD_COUNT.format(
                source="sine",
                option="min_frequency",
                value=low,
                expected=f"at most max_frequency = {high}",
                fix="swap the two, or widen the range",
            )
        )


def sine(spec: SineData, *, seed: int, dtype: np.dtype) -> Raw:
    """Windows of a sine wave and the value that follows each.

    Sample i is ``x_t = sin(2 pi f_i t + phase_i) + noise * N(0, 1)`` for t = 0 ..
    length - 1, with f_i ~ U[min_frequency, max_frequency] (cycles per step) and
    phase_i ~ U[0, 2 pi); its target is x at t = length (noise included). Samples are
    [length, 1], targets [1]; ``normalize`` does not apply (the values lie in [-1, 1]).
    """
    _positive("sine", "length", spec.length)
    _positive("sine", "samples", spec.samples)
    _frequencies(spec)
    _noise("sine", spec.noise)
    rng = rng_for(seed, GENERATE)
    frequency = rng.uniform(spec.min_frequency, spec.max_frequency, spec.samples)
    phase = rng.uniform(0.0, 2.0 * math.pi, spec.samples)
    steps = np.arange(spec.length + 1)
    wave = np.sin(2.0 * math.pi * frequency[:, None] * steps + phase[:, None])
    wave = wave + spec.noise * rng.standard_normal(wave.shape)
    return Raw(
        x=wave[:, : spec.length, None].astype(dtype),
        y=wave[:, spec.length :].astype(dtype),
        kind="targets",
        test_fraction=spec.test,
        feature_hint=f"sine makes sequences of {spec.length} steps of 1 value "
        f"(length = {spec.length})",
    )


def adding(spec: AddingData, *, seed: int, dtype: np.dtype) -> Raw:
    """The adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015).

    Sample i is [length, 2]: channel 0 holds values ~ U[0, 1), channel 1 is a marker, 0
    but for one 1 at a step drawn uniformly from the first half (steps 0 .. length // 2
    - 1) and one from the second half (length // 2 .. length - 1). The target [1] is the
    sum of the two marked values.
    """
    _positive("adding", "length", spec.length, minimum=2)
    _positive("adding", "samples", spec.samples)
    rng = rng_for(seed, GENERATE)
    n, length = spec.samples, spec.length
    half = length // 2
    values = rng.uniform(0.0, 1.0, (n, length))
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    rows = np.arange(n)
    marker = np.zeros((n, length))
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return Raw(
        x=np.stack([values, marker], axis=2).astype(dtype),
        y=target[:, None].astype(dtype),
        kind="targets",
        test_fraction=spec.test,
        feature_hint=f"adding makes sequences of {length} steps of 2 values, a value and "
        f"a marker (length = {length})",
    )


def copy_memory(spec: CopyData, *, seed: int, dtype: np.dtype) -> Raw:
    """The copy-memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

    With S = symbols and K = remember, a sequence has length + 2 K steps of the codes
    0 (blank), 1 .. S (the symbols) and S + 1 (the delimiter): K symbols drawn uniformly
    from 1 .. S, length - 1 blanks, the delimiter, then K blanks (the steps at which the
    per-step form of the task outputs the copy). Each step is one-hot over the S + 2
    codes: samples are [length + 2 K, S + 2] floats. The target is the K symbols one-hot
    over 1 .. S, [K, S] floats (symbol s at index s - 1), for binary_cross_entropy or a
    regression loss.
    """
    _positive("copy", "length", spec.length)
    _positive("copy", "symbols", spec.symbols)
    _positive("copy", "remember", spec.remember)
    _positive("copy", "samples", spec.samples)
    rng = rng_for(seed, GENERATE)
    n, s, k = spec.samples, spec.symbols, spec.remember
    steps = spec.length + 2 * k
    drawn = rng.integers(1, s + 1, (n, k))
    codes = np.zeros((n, steps), dtype=np.int64)
    codes[:, :k] = drawn
    codes[:, k + spec.length - 1] = s + 1
    return Raw(
        x=np.eye(s + 2, dtype=dtype)[codes],
        y=np.eye(s, dtype=dtype)[drawn - 1],
        kind="soft",
        test_fraction=spec.test,
        feature_hint=f"copy makes sequences of {steps} steps (length + 2 remember) of "
        f"{s + 2} one-hot codes (blank, {s} symbols, delimiter)",
    )
