"""What only the NumPy backend does: it runs on the CPU alone, and its own erf.

The compiled model's contract (dtypes, parameters, state, trace, errors, every spec) is
tested on every backend in test_contract.py and test_contract_model.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_numpy_support import build

from netspec.backends.numpy import BACKEND, erf
from netspec.errors import NetspecError
from netspec.ir import ops as ir


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps", "gpu"])
def test_devices_other_than_cpu_are_refused(device: str) -> None:
    with pytest.raises(NetspecError, match=f"expected device 'cpu', got '{device}'"):
        BACKEND.compile(build((4,), ir.Dense(units=2)), device=device)


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
