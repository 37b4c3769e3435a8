"""Checks on the parameter arrays given to a compiled model, before torch sees them.

Batches and targets are checked by :mod:`netspec._contract`, as on every backend.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from netspec.ir import CheckedModel
from netspec.weights import validate_weights


def check_values(
    model: CheckedModel,
    values: Mapping[str, object],
    dtype: np.dtype,
    *,
    complete: bool,
) -> dict[str, np.ndarray]:
    """Parameter and state arrays checked by :func:`netspec.weights.validate_weights`
    (names, float dtype, shape, finite values) and cast to ``dtype``.

    With ``complete`` every parameter must be present (state may be left out: it starts
    at its fill value); otherwise any subset of names may be given.
    """
    return validate_weights(model, values, dtype=dtype, require="params" if complete else "none")
