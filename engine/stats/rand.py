"""RAND/UCLA appropriateness method: the numbers behind the disagreement test.

Source: Fitch et al., The RAND/UCLA Appropriateness Method User's Manual, RAND
MR-1269 (2001). Defined on the 1-9 scale only (the constants below are centred on 5).

Interpercentile range (IPR) method::

    IPR   = P70 - P30
    IPRCP = (P30 + P70) / 2            central point of the IPR
    AI    = |5 - IPRCP|                asymmetry index
    IPRAS = 2.35 + 1.5 * AI            IPR required for disagreement given the asymmetry
    disagreement  <=>  IPR > IPRAS;    DI = IPR / IPRAS (> 1 means disagreement)

P30 and P70 use the study's quantile method (type 7 by default). Worked example
(BMJ Open 2012;2(5):e001431, Table 1): ratings 1, 2, 3, five 7s, five 8s, two 9s
(n = 15). Positions 4-5 and 10-11 of the sorted ratings are ties, so every
Hyndman-Fan definition (types 1-9) gives P30 = 7 and P70 = 8; with type 7 the 0-based
positions are 14 * 0.3 = 4.2 and 14 * 0.7 = 9.8, with type 6 they are 3.8 and 10.2.
Hence IPR 1, IPRCP 7.5, AI 2.5, IPRAS 6.1: no disagreement.

Exactness: P30 = N30 / 10 and P70 = N70 / 10 with integer N (see
:func:`engine.stats.quantiles.quantile_parts`), so with S = N30 + N70 the test is the
integer comparison ``20 (N70 - N30) > 47 * 10 + 15 |100 - S|`` (scaled by 200). A panel
exactly at the boundary (IPR == IPRAS) is therefore never misread because of binary
rounding. Reported values are each one correctly rounded division of exact integers.

Panel-size count method (``disagreement = "count"``): the manual's table says, for
8-10 panelists, disagreement when at least 3 rate in each extreme third (1-3 and 7-9)
and agreement when at most 2 rate outside the 3-point region containing the median;
11-13: 4 / 3; 14-16: 5 / 4. Both columns follow ``d(n) = floor((n + 1) / 3)`` and
``a(n) = d(n) - 1``, which we use for every panel size (at least 1 for ``d``): about a
third of the panel in each extreme. The same extension (17-19: <= 5, 20-22: <= 6,
23-25: <= 7 for agreement) is used in published panels. Only disagreement changes the
class; agreement / indeterminate is reported in the reason. When the median is 3.5 or
6.5 it lies between two regions and agreement is reported as not applicable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.stats.descriptive import CountTable
from engine.stats.quantiles import FloatArray, IntArray

BoolArray = npt.NDArray[np.bool_]
LOW = (1, 2, 3)
MIDDLE = (4, 5, 6)
HIGH = (7, 8, 9)


@dataclass(frozen=True)
class IprResult:
    """Per-cell IPR numbers; NaN / False where there are no valid ratings."""

    p30: FloatArray
    p70: FloatArray
    ipr: FloatArray
    iprcp: FloatArray
    ai: FloatArray
    ipras: FloatArray
    di: FloatArray
    disagreement: BoolArray


def _divide(numerator: IntArray, denominator: IntArray | int, valid: BoolArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.asarray(numerator, dtype=np.float64) / np.asarray(denominator, dtype=np.float64)
    return np.where(valid, out, np.nan)


def ipr_method(table: CountTable) -> IprResult:
    """The interpercentile-range test for every cell of ``table`` (a 1-9 scale)."""
    if table.points != 9:
        raise ValueError("the RAND/UCLA IPR method is defined on the 1-9 scale only")
    n30, den, valid = table.quantile_parts("0.3")
    n70, den70, _ = table.quantile_parts("0.7")
    assert den == den70 == 10
    spread = n70 - n30  # IPR * 10
    total = n30 + n70  # IPRCP * 20
    asym = np.abs(100 - total)  # AI * 20
    needed = 47 * 10 + 15 * asym  # IPRAS * 200
    return IprResult(
        p30=_divide(n30, den, valid),
        p70=_divide(n70, den, valid),
        ipr=_divide(spread, den, valid),
        iprcp=_divide(total, 2 * den, valid),
        ai=_divide(asym, 2 * den, valid),
        ipras=_divide(needed, 20 * den, valid),
        di=_divide(20 * spread, needed, valid),
        disagreement=np.asarray(valid & (20 * spread > needed)),
    )


@dataclass(frozen=True)
class CountResult:
    """Per-cell results of the panel-size count method."""

    low: IntArray  # ratings 1-3
    high: IntArray  # ratings 7-9
    outside: IntArray  # ratings outside the region holding the median (-1: not applicable)
    disagree_at: IntArray  # d(n)
    agree_at: IntArray  # a(n)
    disagreement: BoolArray
    agreement: BoolArray


def disagreement_threshold(n: IntArray) -> IntArray:
    """d(n) = floor((n + 1) / 3), at least 1: reproduces the manual's 8-16 table."""
    return np.maximum((np.asarray(n, dtype=np.int64) + 1) // 3, 1)


def count_method(table: CountTable, median: FloatArray) -> CountResult:
    """The panel-size count test for every cell of ``table`` (a 1-9 scale)."""
    if table.points != 9:
        raise ValueError("the RAND/UCLA count method is defined on the 1-9 scale only")
    n = table.n
    low, mid, high = table.count_in(LOW), table.count_in(MIDDLE), table.count_in(HIGH)
    inside = np.where(median <= 3, low, np.where(median >= 7, high,
                      np.where((median >= 4) & (median <= 6), mid, -1)))
    outside = np.where(inside >= 0, n - inside, -1)
    d = disagreement_threshold(n)
    a = d - 1
    valid = n > 0
    return CountResult(
        low=low,
        high=high,
        outside=outside,
        disagree_at=d,
        agree_at=a,
        disagreement=np.asarray(valid & (low >= d) & (high >= d)),
        agreement=np.asarray(valid & (outside >= 0) & (outside <= a)),
    )
