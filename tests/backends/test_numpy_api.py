"""What only the NumPy backend does: it runs on the CPU alone, and its own erf.

The compiled model's contract (dtypes, parameters, state, trace, errors, every spec) is
tested on every backend in test_contract.py and test_contract_model.py.
"""

from __future__ import annotations

import math

import numpy as np

from netspec.backends.numpy import erf


def test_erf_is_accurate_to_float64_rounding() -> None:
    xs = np.concatenate(
        [
            np.linspace(-7.0, 7.0, 20001),
            [0.0, 0.46875, -0.46875, 4.0, -4.0, 1e-20, 27.0, -30.0],
        ]
    )
    want = np.array([math.erf(v) for v in xs])
    np.testing.assert_allclose(erf(xs), want, rtol=1e-15, atol=1e-300)
    assert np.isnan(erf(np.array([np.nan]))[0])
    np.testing.assert_array_equal(erf(np.array([np.inf, -np.inf])), [1.0, -1.0])
