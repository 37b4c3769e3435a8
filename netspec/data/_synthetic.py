"""Synthetic sources, generated from the seed: linear, polynomial, xor, spirals."""

from __future__ import annotations

import math

import numpy as np

from netspec.data._raw import Raw
from netspec.data._split import GENERATE, rng_for
from netspec.errors import NetspecError
from netspec.ir.train import LinearData, PolynomialData, SpiralsData, XorData

# "Dive into Deep Learning" 3.2 (linear regression) and 3.7 (weight decay).
D2L_LINEAR_W = (2.0, -3.4)
D2L_LINEAR_B = 4.2
WEIGHT_DECAY_W = 0.01
WEIGHT_DECAY_B = 0.05
# "Dive into Deep Learning" 3.6: coefficients of x^0/0!, x^1/1!, x^2/2!, x^3/3!.
D2L_POLY_W = (5.0, 1.2, -3.4, 5.6)

XOR_CORNERS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_LABELS = np.array([0, 1, 1, 0], dtype=np.int64)

BAD_COUNT = "data {source}: {option} = {value}, expected {expected}\n  help: {fix}"


def _positive(source: str, option: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise NetspecError(
            BAD_COUNT.format(
                source=source,
                option=option,
                value=value,
                expected=f"an integer >= {minimum}",
                fix=f"write e.g. {option} = {max(minimum, 2)}",
            )
        )


def _noise(source: str, noise: float) -> None:
    if not (math.isfinite(noise) and noise >= 0):
        raise NetspecError(
            BAD_COUNT.format(
                source=source,
                option="noise",
                value=noise,
                expected="a finite number >= 0 (a standard deviation)",
                fix="write e.g. noise = 0.01, or noise = 0 for none",
            )
        )


def linear(spec: LinearData, *, seed: int, dtype: np.dtype) -> Raw:
    """y = X w + b + noise * N(0, 1), X ~ N(0, 1) of shape [samples, features].

    The true parameters follow "Dive into Deep Learning": for ``features == 2``,
    w = [2, -3.4] and b = 4.2 (section 3.2); for any other width, w = 0.01 for every
    feature and b = 0.05 (the weight-decay demo of section 3.7, 200 features). Targets
    are [samples, 1]; ``normalize`` does not apply. ``true_params`` returns w and b.
    """
    _positive("linear", "samples", spec.samples)
    _positive("linear", "features", spec.features)
    _noise("linear", spec.noise)
    if spec.features == 2:
        w = np.array(D2L_LINEAR_W)
        b = D2L_LINEAR_B
    else:
        w = np.full(spec.features, WEIGHT_DECAY_W)
        b = WEIGHT_DECAY_B
    rng = rng_for(seed, GENERATE)
    x = rng.standard_normal((spec.samples, spec.features))
    y = x @ w + b + spec.noise * rng.standard_normal(spec.samples)
    return Raw(
        x=x.astype(dtype),
        y=y[:, None].astype(dtype),
        kind="targets",
        test_fraction=spec.test,
        feature_hint=f"linear makes {spec.features} features (features = {spec.features})",
        true_params={"w": w, "b": np.array([b])},
    )


def polynomial(spec: PolynomialData, *, seed: int, dtype: np.dtype) -> Raw:
    """ "Dive into Deep Learning" 3.6: features x^i / i! for i = 0 .. features - 1.

    x ~ N(0, 1) is one scalar per sample; the inputs are its ``features`` scaled powers
    x^0/0!, x^1/1!, ..., x^(features-1)/(features-1)! (x^0 = 1 is the first column, as
    in D2L). The true weights are nonzero on the first ``degree + 1`` columns only:
    D2L's [5, 1.2, -3.4, 5.6] for degree 3 (truncated for a lower degree; for a higher
    one the extra coefficients are drawn from N(0, 1) with the seed) and 0 elsewhere.
    y = poly @ w + noise * N(0, 1), targets [samples, 1]. ``true_params`` returns w.
    """
    _positive("polynomial", "samples", spec.samples)
    _positive("polynomial", "degree", spec.degree, minimum=0)
    _noise("polynomial", spec.noise)
    if spec.features < spec.degree + 1:
        raise NetspecError(
            BAD_COUNT.format(
                source="polynomial",
                option="features",
                value=spec.features,
                expected=f"at least degree + 1 = {spec.degree + 1} columns "
                f"(x^0 .. x^{spec.degree})",
                fix=f"use features >= {spec.degree + 1} or a lower degree",
            )
        )
    rng = rng_for(seed, GENERATE)
    w = np.zeros(spec.features)
    known = min(spec.degree + 1, len(D2L_POLY_W))
    w[:known] = D2L_POLY_W[:known]
    extra = spec.degree + 1 - known
    if extra > 0:
        w[known : spec.degree + 1] = rng.standard_normal(extra)
    x = rng.standard_normal(spec.samples)
    powers = np.arange(spec.features)
    factorials = np.array([math.gamma(i + 1) for i in powers])
    poly = np.power(x[:, None], powers) / factorials
    y = poly @ w + spec.noise * rng.standard_normal(spec.samples)
    return Raw(
        x=poly.astype(dtype),
        y=y[:, None].astype(dtype),
        kind="targets",
        test_fraction=spec.test,
        feature_hint=f"polynomial makes {spec.features} features x^0/0! .. "
        f"x^{spec.features - 1}/{spec.features - 1}! (features = {spec.features})",
        true_params={"w": w},
    )


def xor(spec: XorData, *, seed: int, dtype: np.dtype) -> Raw:
    """Points scattered around the corners (0,0), (0,1), (1,0), (1,1), label x1 xor x2.

    ``samples`` are shared as evenly as possible among the four corners (in that
    order); each point is its corner plus ``noise * N(0, 1)`` in both coordinates.
    """
    _positive("xor", "samples", spec.samples, minimum=4)
    _noise("xor", spec.noise)
    rng = rng_for(seed, GENERATE)
    corner = np.concatenate(
        [np.full(len(part), i) for i, part in enumerate(np.array_split(np.arange(spec.samples), 4))]
    )
    x = XOR_CORNERS[corner] + spec.noise * rng.standard_normal((spec.samples, 2))
    return Raw(
        x=x.astype(dtype),
        y=XOR_LABELS[corner],
        kind="labels",
        test_fraction=spec.test,
        num_classes=2,
        feature_hint="xor makes 2 features (points in the plane)",
    )


def spirals(spec: SpiralsData, *, seed: int, dtype: np.dtype) -> Raw:
    """The CS231n spirals: ``classes`` arms, ``samples`` points shared among them.

    Arm j has radius r = linspace(0, 1, n_j) and angle
    t = linspace(4 j, 4 (j + 1), n_j) + noise * N(0, 1); the point is (r sin t, r cos t).
    """
    _positive("spirals", "classes", spec.classes, minimum=2)
    _positive("spirals", "samples", spec.samples, minimum=spec.classes)
    _noise("spirals", spec.noise)
    rng = rng_for(seed, GENERATE)
    xs, ys = [], []
    for j, part in enumerate(np.array_split(np.arange(spec.samples), spec.classes)):
        n = len(part)
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(4.0 * j, 4.0 * (j + 1), n) + spec.noise * rng.standard_normal(n)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n, j, dtype=np.int64))
    return Raw(
        x=np.concatenate(xs).astype(dtype),
        y=np.concatenate(ys),
        kind="labels",
        test_fraction=spec.test,
        num_classes=spec.classes,
        feature_hint="spirals makes 2 features (points in the plane)",
    )
