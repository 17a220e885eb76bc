"""Attrition bias: did the experts who dropped out think differently from those who stayed?

A Delphi panel shrinks from round to round; if the experts who leave are those who
disagreed, later rounds drift towards consensus by attrition rather than by persuasion.
For every later round r, the round-1 panel splits into *stayers* (answered in round r)
and *dropouts* (did not). For every statement rated in round 1 we compare their round-1
ratings: the share agreeing in each group, and the two-sided Mann-Whitney U test
(``scipy.stats.mannwhitneyu(dropouts, stayers)``, its default method choice), flagged
when p < 0.05. With many statements some flags are expected by chance (at 30 statements
and no real difference, about 1.5): the flags point at statements to look at, they are
not findings. Retention is the round-r participants over round 1's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

from engine.stats.ordering import natural_key

ALPHA = 0.05
COLUMNS = ("round", "statement", "n_stayed", "n_dropped", "pct_agree_stayed",
           "pct_agree_dropped", "mannwhitney_u", "mannwhitney_p", "flagged")
CAVEAT = ("Mann-Whitney U per statement, unadjusted for multiple testing: with many "
          "statements some p < 0.05 are expected by chance.")


def retention(ratings: pd.DataFrame) -> pd.DataFrame:
    """Participants answering in each round and retention against round 1 (percent)."""
    rounds = sorted(int(r) for r in ratings["round"].unique())
    if not rounds:
        return pd.DataFrame(columns=["round", "participants", "retention"])
    people = {r: set(ratings.loc[ratings["round"] == r, "participant"]) for r in rounds}
    first = people[rounds[0]]
    return pd.DataFrame(
        [(r, len(people[r]), 100 * len(people[r] & first) / len(first) if first else np.nan)
         for r in rounds], columns=["round", "participants", "retention"])


def attrition_table(ratings: pd.DataFrame, agree: tuple[int, ...]) -> pd.DataFrame:
    """One row per later round and round-1 statement (see the module docstring)."""
    ratings = ratings.assign(round=ratings["round"].astype(int))
    rounds = sorted(ratings["round"].unique())
    if len(rounds) < 2:
        return pd.DataFrame(columns=list(COLUMNS))
    first = ratings[ratings["round"] == rounds[0]].dropna(subset=["rating"])
    statements = sorted(first["statement"].unique(), key=natural_key)
    rows = []
    for later in rounds[1:]:
        present = set(ratings.loc[ratings["round"] == later, "participant"])
        for statement in statements:
            cell = first[first["statement"] == statement]
            stayed_mask = cell["participant"].isin(present)
            stayed = cell.loc[stayed_mask, "rating"].astype(int).to_numpy()
            dropped = cell.loc[~stayed_mask, "rating"].astype(int).to_numpy()
            u = p = np.nan
            if len(stayed) and len(dropped):
                test = scipy.stats.mannwhitneyu(dropped, stayed, alternative="two-sided")
                u, p = float(test.statistic), float(test.pvalue)
            rows.append((int(later), statement, len(stayed), len(dropped),
                         _pct_in(stayed, agree), _pct_in(dropped, agree), u, p,
                         bool(p < ALPHA) if p == p else False))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _pct_in(values: np.ndarray, agree: tuple[int, ...]) -> float:
    return 100 * int(np.isin(values, agree).sum()) / len(values) if len(values) else np.nan
