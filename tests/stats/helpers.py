"""Small builders shared by the statistics tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np
import pandas as pd

from engine.stats.descriptive import CountTable
from engine.stats.quantiles import QuantileMethod


def table(*rows: Sequence[int | None], points: int = 9,
          method: QuantileMethod = "type7") -> CountTable:
    """A CountTable with one row per list of ratings (None = unable to rate)."""
    counts = np.zeros((len(rows), points), dtype=np.int64)
    unable = np.zeros(len(rows), dtype=np.int64)
    for i, ratings in enumerate(rows):
        for r in ratings:
            if r is None:
                unable[i] += 1
            else:
                counts[i, r - 1] += 1
    return CountTable(counts, unable, method)


def frame(rows: Iterable[tuple[object, ...]], group: bool = False) -> pd.DataFrame:
    """Long-format ratings from (round, statement, participant, rating[, group]) tuples."""
    columns = ["round", "statement", "participant", "rating"] + (["group"] if group else [])
    out = pd.DataFrame(list(rows), columns=columns)
    out["rating"] = out["rating"].astype("Int64")
    return out


def exact_quantile(values: Sequence[int], q: Fraction, method: QuantileMethod) -> Fraction:
    """Reference Hyndman-Fan type 7 / type 6 in exact rational arithmetic."""
    x = sorted(values)
    n = len(x)
    h = (n - 1) * q if method == "type7" else (n + 1) * q - 1
    if h <= 0:
        return Fraction(x[0])
    if h >= n - 1:
        return Fraction(x[-1])
    j = int(h)  # h > 0 here, so int() is floor
    return x[j] + (h - j) * (x[j + 1] - x[j])
