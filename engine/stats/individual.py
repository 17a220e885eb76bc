"""Individual-level stability: did each expert keep their own rating between rounds?

The group tests in :mod:`engine.stats.stability` compare distributions; they miss a
panel in which experts swap (one moves 3 -> 7 while another moves 7 -> 3: the same
distribution, two changed minds). These measures look at each expert:

- per statement carried unchanged from round r - 1 into round r (the same statement
  id, see :mod:`engine.stats.api`): among the experts with a valid rating in both
  rounds, the share who gave exactly the same rating (``kept_exact``) and who stayed
  within one scale point (``kept_within_1``), in percent;
- per expert and round r: Cohen's quadratic-weighted kappa (Cohen, Psychol Bull 1968)
  between their round r - 1 and round r ratings of the statements carried unchanged
  and rated validly both times, the scale points as categories (as
  ``sklearn.metrics.cohen_kappa_score(before, after, labels=1..k, weights="quadratic")``).
  1 = the same ordering, 0 = no more agreement than chance. Undefined (NA) with fewer
  than two such statements or when the expected disagreement is 0 (e.g. the same
  point everywhere both times).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PAIR_COLUMNS = ("kept_exact", "kept_within_1")
EXPERT_COLUMNS = ("round", "participant", "n_statements", "kappa_quadratic")


def _paired(ratings: pd.DataFrame) -> pd.DataFrame:
    """One row per (round r, statement, participant) with valid ratings in r - 1 and r."""
    valid = ratings.dropna(subset=["rating"])[["round", "statement", "participant",
                                                "rating"]].copy()
    valid["round"] = valid["round"].astype(int)
    valid["rating"] = valid["rating"].astype(int)
    before = valid.assign(round=valid["round"] + 1)
    return valid.merge(before, on=["round", "statement", "participant"],
                       suffixes=("", "_before"))


def statement_stability(ratings: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """``kept_exact`` / ``kept_within_1`` (0-100, NA when nobody rated both rounds) for
    every row of ``results`` (an :func:`engine.stats.analyze` table), in its order."""
    pairs = _paired(ratings)
    moved = (pairs["rating"] - pairs["rating_before"]).abs()
    pairs = pairs.assign(exact=moved == 0, near=moved <= 1)
    grouped = pairs.groupby(["round", "statement"])
    share = pd.DataFrame({"n": grouped.size(), "exact": grouped["exact"].sum(),
                          "near": grouped["near"].sum()})
    keys = list(zip(results["round"].astype(int), results["statement"], strict=True))
    out = {name: np.full(len(keys), np.nan) for name in PAIR_COLUMNS}
    for i, key in enumerate(keys):
        if key in share.index:
            n, exact, near = share.loc[key]
            out["kept_exact"][i] = 100 * int(exact) / int(n)
            out["kept_within_1"][i] = 100 * int(near) / int(n)
    return pd.DataFrame(out, index=results.index)


def quadratic_kappa(before: np.ndarray, after: np.ndarray, points: int) -> float:
    """Cohen's quadratic-weighted kappa of two ratings vectors on a 1..points scale."""
    if len(before) < 2:
        return float("nan")
    observed = np.zeros((points, points))
    np.add.at(observed, (before - 1, after - 1), 1)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    index = np.arange(points)
    weights = (index[:, None] - index[None, :]) ** 2
    disagreement = float((weights * expected).sum())
    if disagreement == 0:
        return float("nan")
    return 1 - float((weights * observed).sum()) / disagreement


def expert_stability(ratings: pd.DataFrame, points: int) -> pd.DataFrame:
    """Per expert and round (from round 2): statements carried unchanged and rated validly
    both times, and the quadratic-weighted kappa between the two rounds' ratings."""
    pairs = _paired(ratings)
    rows = []
    for (round_, participant), group in pairs.groupby(["round", "participant"], sort=True):
        rows.append((int(round_), participant, len(group), quadratic_kappa(
            group["rating_before"].to_numpy(), group["rating"].to_numpy(), points)))
    return pd.DataFrame(rows, columns=list(EXPERT_COLUMNS))
