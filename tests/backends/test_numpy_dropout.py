"""Inverted dropout: statistics of the masks, scaling, eval mode and seeding."""

from __future__ import annotations

import numpy as np
import pytest
from test_numpy_support import build

from netspec.backends.numpy import BACKEND, NumpyModel
from netspec.ir import ops as ir

UNITS = 200_000


def _dropout(p: float, seed: int = 0, dtype: str = "float32") -> NumpyModel:
    return BACKEND.compile(
        build((UNITS,), ir.Dropout(p=p)),
        seed=seed,
        dtype=dtype,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_kept_fraction_is_one_minus_p(p: float) -> None:
    x = np.ones((1, UNITS), dtype=np.float32)
    y = _dropout(p).forward(x, train=True)
    kept = float(np.mean(y != 0))
    # The kept count is Binomial(200000, 1 - p): its standard deviation is at most
    # 0.0012 of the units, so 0.006 is five standard deviations.
    assert abs(kept - (1 - p)) < 0.006, kept
    # Kept units are scaled by exactly 1 / (1 - p), so the mean is preserved.
    np.testing.assert_allclose(y[y != 0], np.float32(1 / (1 - p)), rtol=1e-6)
    assert abs(float(y.mean()) - 1.0) < 0.006 / (1 - p)


def test_dropout_is_the_identity_in_eval_mode() -> None:
    x = np.random.default_rng(0).standard_normal((3, UNITS)).astype(np.float32)
    np.testing.assert_array_equal(_dropout(0.5).forward(x, train=False), x)


@pytest.mark.parametrize(("p", "want"), [(0.0, "input"), (1.0, "zeros")])
def test_edge_probabilities(p: float, want: str) -> None:
    x = np.random.default_rng(0).standard_normal((2, UNITS)).astype(np.float32)
    y = _dropout(p).forward(x, train=True)
    np.testing.assert_array_equal(y, x if want == "input" else np.zeros_like(x))


def test_same_seed_gives_the_same_masks_and_reseeding_restarts_the_stream() -> None:
    x = np.ones((2, UNITS), dtype=np.float32)
    a, b = _dropout(0.5, seed=7), _dropout(0.5, seed=7)
    first = a.forward(x, train=True)
    np.testing.assert_array_equal(first, b.forward(x, train=True))
    second = a.forward(x, train=True)
    assert not np.array_equal(first, second), "each call draws a fresh mask"
    a.seed(7)
    np.testing.assert_array_equal(a.forward(x, train=True), first)
    other = _dropout(0.5, seed=8).forward(x, train=True)
    assert not np.array_equal(first, other)


def test_masks_do_not_depend_on_the_dtype() -> None:
    x = np.ones((1, UNITS), dtype=np.float32)
    m32 = _dropout(0.4, seed=3).forward(x, train=True) != 0
    m64 = _dropout(0.4, seed=3, dtype="float64").forward(x, train=True) != 0
    np.testing.assert_array_equal(m32, m64)
