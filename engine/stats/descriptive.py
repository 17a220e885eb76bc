"""Descriptive statistics of many statements at once, from counts per scale point.

A :class:`CountTable` holds, for G "cells" (a statement in a round, or a statement in a
round within one stakeholder group), the number of valid ratings on each scale point
and the number of "unable to rate" answers. Everything else is derived from these
counts, so a round of 200 statements costs a handful of array operations.

Conventions (what the report prints):

- ``n`` is the number of valid ratings; "unable to rate" is counted apart (``n_unable``).
- Percentages are ``100 * k / n`` computed as one correctly rounded division of exact
  integers, i.e. the double nearest to the true percentage.
- ``mean`` is ``sum / n`` (exact sum, one rounding), identical to numpy.mean.
- ``sd`` is the sample standard deviation (denominator n - 1, as R ``sd``, SPSS,
  pandas ``std``), computed from the exact rational variance and correctly rounded;
  it equals Python's ``statistics.stdev`` bit for bit and numpy's ``std(ddof=1)`` to
  within an ulp or two (numpy accumulates rounding errors). NaN when n < 2.
- ``cv`` is the coefficient of variation ``sd / mean`` as a ratio (not a percentage).
- Quartiles follow :mod:`engine.stats.quantiles`; ``iqr = q3 - q1`` is exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from engine.stats.quantiles import (
    FloatArray,
    IntArray,
    QuantileMethod,
    cumulative,
    quantile,
    quantile_parts,
)


@dataclass
class CountTable:
    """Valid ratings per scale point (``counts``, shape G x points) and unable-to-rate counts."""

    counts: IntArray
    n_unable: IntArray
    method: QuantileMethod
    unable_in_denominator: bool = False
    cum: IntArray = field(init=False)
    n: IntArray = field(init=False)

    def __post_init__(self) -> None:
        self.counts = np.ascontiguousarray(self.counts, dtype=np.int64)
        self.n_unable = np.asarray(self.n_unable, dtype=np.int64)
        self.cum = cumulative(self.counts)
        self.n = self.cum[:, -1].copy()

    @property
    def points(self) -> int:
        return int(self.counts.shape[1])

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    @property
    def share_n(self) -> IntArray:
        """Denominator of the shares: valid ratings, plus "unable to rate" when the
        protocol counts them (``[consensus] unable_in_denominator``)."""
        return self.n + self.n_unable if self.unable_in_denominator else self.n

    def count_in(self, values: Iterable[int]) -> IntArray:
        """Number of valid ratings on any of the given scale points, per cell."""
        index = sorted({v - 1 for v in values})
        if not index:
            return np.zeros(len(self), dtype=np.int64)
        return np.asarray(self.counts[:, index].sum(axis=1), dtype=np.int64)

    def quantile(self, q: float | str) -> FloatArray:
        return quantile(self.cum, q, self.method)

    def quantile_parts(self, q: float | str) -> tuple[IntArray, int, npt.NDArray[np.bool_]]:
        return quantile_parts(self.cum, q, self.method)

    def take(self, index: IntArray) -> CountTable:
        """The sub-table of the given cells (used to evaluate rules on a subset)."""
        return CountTable(self.counts[index], self.n_unable[index], self.method,
                          self.unable_in_denominator)


def percent(k: IntArray, n: IntArray) -> FloatArray:
    """``100 * k / n`` as the double nearest the true value; NaN where n = 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (100 * k).astype(np.float64) / n.astype(np.float64)
    return np.where(n > 0, out, np.nan)


def _exact_ties(k: IntArray, n: IntArray, threshold: Fraction | float,
                approx: npt.NDArray[np.bool_], at_least: bool) -> npt.NDArray[np.bool_]:
    """Re-decide, in exact rationals, the cells whose share is within rounding of the
    threshold (``5/7`` against ``0.7142857142857143``: the same double, different numbers)."""
    exact = threshold if isinstance(threshold, Fraction) else Fraction(repr(float(threshold)))
    limit = float(exact)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = k / n
        near = (n > 0) & (np.abs(share - limit) <= 4 * np.spacing(max(abs(limit), 1e-300)))
    out = approx.copy()
    for i in np.flatnonzero(near):
        value = Fraction(int(k[i]), int(n[i]))
        out[i] = value >= exact if at_least else value < exact
    return out


def share_at_least(k: IntArray, n: IntArray,
                   threshold: Fraction | float) -> npt.NDArray[np.bool_]:
    """``k / n >= threshold`` exactly, the threshold read as the decimal (or fraction)
    written (False where n = 0). Far from the threshold the doubles decide; near it the
    rationals do."""
    with np.errstate(invalid="ignore", divide="ignore"):
        share = k / n
    approx = np.asarray((n > 0) & (share >= float(threshold)))
    return _exact_ties(k, n, threshold, approx, at_least=True) & (n > 0)


def share_below(k: IntArray, n: IntArray, threshold: Fraction | float) -> npt.NDArray[np.bool_]:
    """``k / n < threshold`` exactly (False where n = 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        share = k / n
    approx = np.asarray((n > 0) & (share < float(threshold)))
    return _exact_ties(k, n, threshold, approx, at_least=False) & (n > 0)


def _sqrt_of_fraction(numerator: int, denominator: int) -> float:
    """Correctly rounded ``sqrt(numerator / denominator)`` for non-negative integers.

    Round-to-odd integer square root with enough spare bits, then one rounding to double
    (the method of CPython's ``statistics`` module, bpo-45876).
    """
    if numerator == 0:
        return 0.0
    spare = 2 * 53 + 3
    shift = (numerator.bit_length() - denominator.bit_length() - spare) // 2
    if shift >= 0:
        scaled_d = denominator << (2 * shift)
        root = math.isqrt(numerator // scaled_d)
        root |= root * root * scaled_d != numerator
        return float(root << shift)
    scaled_n = numerator << (-2 * shift)
    root = math.isqrt(scaled_n // denominator)
    root |= root * root * denominator != scaled_n
    return root / (1 << -shift)


def sample_sd(sum1: IntArray, sum2: IntArray, n: IntArray) -> FloatArray:
    """Sample SD from exact sums of ratings and of squared ratings (NaN where n < 2)."""
    out = np.full(len(n), np.nan)
    for i in np.flatnonzero(n >= 2):
        count, s1, s2 = int(n[i]), int(sum1[i]), int(sum2[i])
        out[i] = _sqrt_of_fraction(count * s2 - s1 * s1, count * (count - 1))
    return out


def describe(table: CountTable, agree: Iterable[int],
             disagree: Iterable[int]) -> dict[str, npt.NDArray[np.generic]]:
    """Every descriptive column of the results table, one array per column."""
    n = table.n
    values = np.arange(1, table.points + 1, dtype=np.int64)
    sum1 = table.counts @ values
    sum2 = table.counts @ (values * values)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, sum1.astype(np.float64) / n.astype(np.float64), np.nan)
        sd = sample_sd(sum1, sum2, n)
        cv = sd / mean
    q1 = table.quantile("0.25")
    median = table.quantile("0.5")
    q3 = table.quantile("0.75")
    n_agree = table.count_in(agree)
    n_disagree = table.count_in(disagree)
    share_n = table.share_n
    columns: dict[str, npt.NDArray[np.generic]] = {
        "n": n,
        "n_unable": table.n_unable,
    }
    for point in range(table.points):
        columns[f"count_{point + 1}"] = table.counts[:, point]
    columns.update(
        median=median,
        q1=q1,
        q3=q3,
        iqr=q3 - q1,
        mean=mean,
        sd=sd,
        cv=cv,
        pct_agree=percent(n_agree, share_n),
        pct_disagree=percent(n_disagree, share_n),
        pct_neutral=percent(n - n_agree - n_disagree, share_n),
    )
    return columns
