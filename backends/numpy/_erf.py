"""The error function in float64, vectorised, after W. J. Cody's rational approximations.

NumPy has no ``erf`` and SciPy is not a dependency, so exact GELU needs one of its own.
Cody's three near-minimax rational approximations (Math. Comp. 23, 1969, pp. 631-638;
netlib specfun CALERF) are accurate to float64 rounding on the whole real line: one for
``erf`` on ``|x| <= 0.46875``, two for ``erfc`` on ``0.46875 < |x| <= 4`` and ``|x| > 4``.
"""

from __future__ import annotations

import numpy as np

_THRESHOLD = 0.46875
_SQRT_PI_INV = 0.56418958354775628695  # 1 / sqrt(pi)
_XSMALL = 1.11e-16  # below this, x * x is not needed (erf(x) = x * a3 / b3 is exact enough)
_XBIG = 26.543  # above this, erfc(x) underflows to zero in float64

# erf(x) = x * P(x^2) / Q(x^2) on |x| <= 0.46875; highest-degree numerator term last.
_A = (
    3.16112374387056560e00,
    1.13864154151050156e02,
    3.77485237685302021e02,
    3.20937758913846947e03,
    1.85777706184603153e-1,
)
_B = (
    2.36012909523441209e01,
    2.44024637934444173e02,
    1.28261652607737228e03,
    2.84423683343917062e03,
)
# erfc(x) = exp(-x^2) * P(x) / Q(x) on 0.46875 < x <= 4.
_C = (
    5.64188496988670089e-1,
    8.88314979438837594e00,
    6.61191906371416295e01,
    2.98635138197400131e02,
    8.81952221241769090e02,
    1.71204761263407058e03,
    2.05107837782607147e03,
    1.23033935479799725e03,
    2.15311535474403846e-8,
)
_D = (
    1.57449261107098347e01,
    1.17693950891312499e02,
    5.37181101862009858e02,
    1.62138957456669019e03,
    3.29079923573345963e03,
    4.36261909014324716e03,
    3.43936767414372164e03,
    1.23033935480374942e03,
)
# erfc(x) = exp(-x^2) / x * (1/sqrt(pi) - R(1/x^2) / x^2) on x > 4.
_P = (
    3.05326634961232344e-1,
    3.60344899949804439e-1,
    1.25781726111229246e-1,
    1.60837851487422766e-2,
    6.58749161529837803e-4,
    1.63153871373020978e-2,
)
_Q = (
    2.56852019228982242e00,
    1.87295284992346047e00,
    5.27905102951428412e-1,
    6.05183413124413191e-2,
    2.33520497626869185e-3,
)


def _erf_small(x: np.ndarray) -> np.ndarray:
    y = np.abs(x)
    ysq = np.where(y > _XSMALL, y * y, 0.0)
    num = _A[4] * ysq
    den = ysq
    for i in range(3):
        num = (num + _A[i]) * ysq
        den = (den + _B[i]) * ysq
    return x * (num + _A[3]) / (den + _B[3])


def _exp_minus_square(y: np.ndarray) -> np.ndarray:
    # exp(-y*y) split as exp(-s*s) * exp(-(y-s)(y+s)) with s = y rounded down to 1/16:
    # s*s is exact, so the rounding error of y*y does not get amplified by exp.
    s = np.trunc(y * 16.0) / 16.0
    return np.exp(-s * s) * np.exp(-(y - s) * (y + s))


def _erfc_middle(y: np.ndarray) -> np.ndarray:
    num = _C[8] * y
    den = y
    for i in range(7):
        num = (num + _C[i]) * y
        den = (den + _D[i]) * y
    return _exp_minus_square(y) * (num + _C[7]) / (den + _D[7])


def _erfc_large(y: np.ndarray) -> np.ndarray:
    ysq = 1.0 / (y * y)
    num = _P[5] * ysq
    den = ysq
    for i in range(4):
        num = (num + _P[i]) * ysq
        den = (den + _Q[i]) * ysq
    tail = ysq * (num + _P[4]) / (den + _Q[4])
    value = _exp_minus_square(y) * (_SQRT_PI_INV - tail) / y
    return np.where(y >= _XBIG, 0.0, value)


def erf(x: np.ndarray) -> np.ndarray:
    """erf(x) elementwise in float64, within a few ulp of the true value everywhere."""
    x = np.asarray(x, dtype=np.float64)
    y = np.abs(x)
    out = np.empty_like(x)
    small = y <= _THRESHOLD
    middle = (y > _THRESHOLD) & (y <= 4.0)
    large = ~(small | middle)  # also NaN, which propagates through the large branch
    out[small] = _erf_small(x[small])
    if middle.any():
        # erf = 1 - erfc, written as (0.5 - erfc) + 0.5 to keep the last bit (Cody).
        e = (0.5 - _erfc_middle(y[middle])) + 0.5
        out[middle] = np.copysign(e, x[middle])
    if large.any():
        yl = y[large]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            e = (0.5 - _erfc_large(yl)) + 0.5
        e = np.where(np.isinf(yl), 1.0, e)
        out[large] = np.copysign(e, x[large])
    return out
