"""Properties that must hold for any panel (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.stats import analyze, sensitivity_table
from engine.studyfile import ConsensusSection, RuleSpec, StoppingSection

RULES = [
    ConsensusSection(rule="percent_agreement"),
    ConsensusSection(rule="median_iqr", median_agree=7, median_disagree=3, quantile="type6"),
    ConsensusSection(rule="all_of", rules=[RuleSpec(rule="grade_70_15"),
                                           RuleSpec(rule="rand_ucla")]),
    ConsensusSection(rule="percent_agreement", every_group=True),
]


@st.composite
def panels(draw: st.DrawFn, points: int = 9) -> pd.DataFrame:
    """Up to 3 rounds x 4 statements x 8 participants, some cells missing or unable."""
    rows = []
    for round_number in range(1, draw(st.integers(1, 3)) + 1):
        for statement in draw(st.lists(st.sampled_from(["S1", "S2", "S10", "A"]), min_size=1,
                                       max_size=4, unique=True)):
            for who in draw(st.lists(st.integers(1, 8), min_size=1, max_size=8, unique=True)):
                rating = draw(st.one_of(st.none(), st.integers(1, points)))
                group = "a" if who % 2 else "b"
                rows.append((round_number, statement, f"P{who}", rating, group))
    table = pd.DataFrame(rows, columns=["round", "statement", "participant", "rating", "group"])
    table["rating"] = table["rating"].astype("Int64")
    return table


@settings(max_examples=60, deadline=None)
@given(panels(), st.randoms(use_true_random=False), st.sampled_from(RULES))
def test_results_do_not_depend_on_row_order(ratings: pd.DataFrame, random: object,
                                            rule: ConsensusSection) -> None:
    order = list(range(len(ratings)))
    random.shuffle(order)  # type: ignore[attr-defined]
    shuffled = ratings.iloc[order].reset_index(drop=True)
    stopping = StoppingSection(stability="wilcoxon")
    pd.testing.assert_frame_equal(analyze(ratings, rule, 9, stopping),
                                  analyze(shuffled, rule, 9, stopping))
    pd.testing.assert_frame_equal(sensitivity_table(ratings, rule, 9),
                                  sensitivity_table(shuffled, rule, 9))


@settings(max_examples=80, deadline=None)
@given(panels(), st.sampled_from(RULES))
def test_quartiles_are_ordered_and_counts_add_up(ratings: pd.DataFrame,
                                                 rule: ConsensusSection) -> None:
    results = analyze(ratings, rule, 9)
    rated = results[results["n"] > 0]
    assert (rated["q1"] <= rated["median"]).all()
    assert (rated["median"] <= rated["q3"]).all()
    assert (rated["iqr"] >= 0).all()
    counts = results[[f"count_{k}" for k in range(1, 10)]].sum(axis=1)
    assert (counts == results["n"]).all()
    sizes = ratings.groupby(["round", "statement"]).size()
    for row in results.itertuples():
        assert row.n + row.n_unable == sizes[(row.round, row.statement)]
    shares = rated["pct_agree"] + rated["pct_disagree"] + rated["pct_neutral"]
    np.testing.assert_allclose(shares, 100.0, rtol=1e-12)
    assert set(results["consensus"]) <= {"in", "out", "none"}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([5, 7, 9]), st.data(), st.integers(1, 30),
       st.sampled_from(["type7", "type6"]))
def test_a_unanimous_statement_has_iqr_zero_and_one_class(points: int, data: st.DataObject,
                                                          size: int, quantile: str) -> None:
    value = data.draw(st.integers(1, points))
    ratings = pd.DataFrame({"round": 1, "statement": "S1",
                            "participant": [f"P{i}" for i in range(size)],
                            "rating": pd.array([value] * size, dtype="Int64")})
    rule = ConsensusSection(rule="percent_agreement", quantile=quantile)
    row = analyze(ratings, rule, points).iloc[0]
    assert (row["iqr"], row["q1"], row["median"], row["q3"]) == (0.0, value, value, value)
    shares = sorted([row["pct_agree"], row["pct_disagree"], row["pct_neutral"]])
    assert shares == [0.0, 0.0, 100.0]
    assert row["consensus"] == ("in" if row["pct_agree"] == 100 else
                                "out" if row["pct_disagree"] == 100 else "none")
    assert row["sd"] == 0.0 or size == 1
