"""Exact sample quantiles of integer ratings, computed from counts per scale point.

Why counts: ratings are small integers, so the sorted sample of a statement is fully
described by its cumulative counts ``cum[v-1] = #ratings <= v``. The k-th order
statistic (0-based) is the smallest ``v`` with ``cum[v-1] > k``; no sorting is needed
and every statement of a round is handled at once.

Definitions (Hyndman & Fan 1996), with ``h`` the 0-based position in the sorted sample:

- ``type7`` (R default, numpy/pandas ``linear``, Excel QUARTILE.INC): ``h = (n - 1) q``.
- ``type6`` (SPSS HAVERAGE, Excel QUARTILE.EXC, Python ``statistics.quantiles``
  default, numpy ``weibull``): ``h = (n + 1) q - 1``, clamped to the sample.

The quantile is ``x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])``.

Exactness: ``q`` is taken as the decimal fraction it is written as (0.3 is 3/10), so
``h`` and the result are exact rationals; the result is rounded once to the nearest
double. For the quartiles and the median this is bit-for-bit what numpy.percentile
(``method="linear"`` / ``"weibull"``) and pandas return, because there every step is
exact in binary too. For other percentiles (P30 / P70 of RAND/UCLA) numpy works with
the binary approximation of 0.3 and can land a few ulp away, occasionally on the wrong
side of an integer position: with ``type6`` and n = 9, numpy's P30 position is
1.9999999999999996 instead of 2, so P30 can come out as 6.999999999999999 instead of 7.
We return the exact value (as R's ``quantile(type = 6)`` does with its fuzz), and all
threshold decisions are taken on the exact numerators (see :func:`quantile_parts`).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import numpy as np
import numpy.typing as npt

QuantileMethod = Literal["type7", "type6"]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def as_fraction(q: float | Fraction | str) -> Fraction:
    """The probability as the decimal the user wrote: 0.3 -> 3/10, not 0.29999999999999998..."""
    if isinstance(q, Fraction):
        value = q
    elif isinstance(q, str):
        value = Fraction(q)
    else:
        value = Fraction(repr(float(q)))
    if not 0 <= value <= 1:
        raise ValueError(f"probability {q} outside [0, 1]")
    return value


def cumulative(counts: IntArray) -> IntArray:
    """Cumulative counts along the scale: ``cum[:, v-1]`` = number of ratings <= v."""
    return np.cumsum(counts, axis=1, dtype=np.int64)


def order_statistic(cum: IntArray, k: IntArray) -> IntArray:
    """Value (1..points) of the k-th smallest rating (0-based ``k``) of every row of ``cum``.

    ``k`` must lie in ``[0, n)``; for rows with n = 0 the result is meaningless (callers
    mask them).
    """
    return np.asarray((cum <= k[:, None]).sum(axis=1) + 1, dtype=np.int64)


def quantile_parts(
    cum: IntArray, q: float | Fraction | str, method: QuantileMethod
) -> tuple[IntArray, int, npt.NDArray[np.bool_]]:
    """Exact quantile of every row as ``numerator / denominator``.

    Returns ``(numerators, denominator, valid)``: the quantile of row i is
    ``numerators[i] / denominator`` exactly, and ``valid`` is False where n = 0.
    Integer numerators let the rules compare thresholds without rounding error.
    """
    frac = as_fraction(q)
    a, b = frac.numerator, frac.denominator
    n = cum[:, -1].astype(np.int64)
    if method == "type7":
        h_num = (n - 1) * a  # h = h_num / b
    elif method == "type6":
        h_num = (n + 1) * a - b
    else:  # pragma: no cover - guarded by the Literal type and the study file
        raise ValueError(f"unknown quantile method {method!r}")
    j = np.floor_divide(h_num, b)
    r = h_num - j * b
    below = h_num < 0
    above = j >= n - 1
    j = np.where(below, 0, np.where(above, n - 1, j))
    r = np.where(below | above, 0, r)
    valid = n > 0
    j = np.where(valid, j, 0)
    lo = order_statistic(cum, j)
    hi = order_statistic(cum, np.minimum(j + 1, np.maximum(n - 1, 0)))
    numerators = lo * b + (hi - lo) * r
    return numerators.astype(np.int64), b, valid


def quantile(cum: IntArray, q: float | Fraction | str, method: QuantileMethod) -> FloatArray:
    """Quantile of every row rounded once to the nearest double; NaN where n = 0."""
    numerators, denominator, valid = quantile_parts(cum, q, method)
    out = numerators / float(denominator)  # one correctly rounded division
    return np.where(valid, out, np.nan)


def quantile_of_values(values: list[int], q: float | Fraction | str,
                       method: QuantileMethod, points: int) -> float:
    """Quantile of one list of ratings (a convenience for callers outside the hot path)."""
    counts = np.bincount(np.asarray(values, dtype=np.int64) - 1, minlength=points)
    return float(quantile(cumulative(counts[None, :].astype(np.int64)), q, method)[0])
