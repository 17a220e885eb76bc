"""results.csv's appended columns: verdict and the Wilson CI, against independent sums."""

from __future__ import annotations

import math

import pandas as pd
from scipy.stats import norm

from engine.stats import analyze
from engine.stats.methods import METHOD_COLUMNS, add_methods
from engine.studyfile import ConsensusSection, StoppingSection

RULE = ConsensusSection(rule="percent_agreement", threshold=0.75)


def _frame(rows: list[tuple[int, str, str, int | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["round", "statement", "participant", "rating"])
    frame["rating"] = frame["rating"].astype("Int64")
    return frame


def _wilson_percent(k: int, n: int) -> tuple[float, float]:
    """Wilson (1927) written out from its definition, z from scipy's normal quantile."""
    z = norm.ppf(0.975)
    p = k / n
    centre = (2 * n * p + z**2) / (2 * (n + z**2))
    half = z * math.sqrt(z**2 + 4 * n * p * (1 - p)) / (2 * (n + z**2))
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def test_wilson_columns_match_the_formula_and_old_columns_are_untouched() -> None:
    ratings = [(1, "S1", f"P{i}", v) for i, v in enumerate([9, 8, 7, 7, 8, 3, 9, 5, None])]
    ratings += [(1, "S2", f"P{i}", v) for i, v in enumerate([1, 2, 1, 3, 2, 2, 1])]
    base = analyze(_frame(ratings), RULE, 9)
    table = add_methods(base, _frame(ratings), RULE, 9)
    assert list(table.columns) == [*base.columns, *METHOD_COLUMNS]
    pd.testing.assert_frame_equal(table[list(base.columns)], base)
    s1, s2 = table.iloc[0], table.iloc[1]
    assert (s1["n"], s1["n_unable"]) == (8, 1)
    low, high = _wilson_percent(6, 8)
    assert math.isclose(s1["agree_ci_low"], low, rel_tol=1e-12)
    assert math.isclose(s1["agree_ci_high"], high, rel_tol=1e-12)
    assert s2["agree_ci_low"] == 0.0  # none agreed: exactly 0
    assert math.isclose(s2["agree_ci_high"], _wilson_percent(0, 7)[1], rel_tol=1e-12)
    assert (s1["verdict"], s2["verdict"]) == ("endorsed", "rejected")


def test_verdict_column_applies_require_stability() -> None:
    ratings = [(r, "S1", f"P{i}", 8) for r in (1, 2) for i in range(6)]
    ratings += [(1, "S2", f"P{i}", 8) for i in range(6)]
    ratings += [(2, "S2", f"P{i}", 2 if i < 3 else 8) for i in range(6)]
    stopping = StoppingSection(require_stability=True)
    table = add_methods(analyze(_frame(ratings), RULE, 9, stopping), _frame(ratings), RULE, 9,
                        stopping)
    got = {(int(r), s): v for r, s, v in zip(table["round"], table["statement"],
                                             table["verdict"], strict=True)}
    assert got == {(1, "S1"): "not_stable", (1, "S2"): "not_stable",
                   (2, "S1"): "endorsed", (2, "S2"): "no_consensus"}
