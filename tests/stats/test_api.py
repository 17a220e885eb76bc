"""analyze(): the table the engine stores after a round."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from engine.stats import analyze, decide_after_round, encode_ratings
from engine.studyfile import ConsensusSection, RuleSpec, StoppingSection
from tests.stats.helpers import frame

PA = ConsensusSection(rule="percent_agreement")


def _round(statement: str, ratings: Sequence[int | None], round_number: int = 1,
           groups: Sequence[str | None] | None = None) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for i, value in enumerate(ratings):
        row: tuple[object, ...] = (round_number, statement, f"P{i + 1}", value)
        if groups is not None:
            row += (groups[i],)
        rows.append(row)
    return rows


def test_one_row_per_round_and_statement_in_natural_order() -> None:
    rows = _round("S10", [7, 8]) + _round("S2", [7, 8]) + _round("S1", [1, 2], 2)
    results = analyze(frame(rows), PA, 9)
    assert list(zip(results["round"], results["statement"], strict=True)) == [
        (1, "S2"), (1, "S10"), (2, "S1")]


def test_columns_and_values_of_a_statement() -> None:
    results = analyze(frame(_round("S1", [9, 9, 8, 7, 5, None])), PA, 9)
    row = results.iloc[0]
    for name in ("round", "statement", "n", "n_unable", "median", "q1", "q3", "iqr", "mean",
                 "sd", "pct_agree", "pct_disagree", "consensus"):
        assert name in results.columns
    assert (row["n"], row["n_unable"], row["participants"]) == (5, 1, 6)
    assert row["response_rate"] == 100 * 5 / 6
    assert [row[f"count_{k}"] for k in range(1, 10)] == [0, 0, 0, 0, 1, 0, 1, 1, 2]
    assert (row["median"], row["q1"], row["q3"], row["iqr"]) == (8.0, 7.0, 9.0, 2.0)
    assert row["pct_agree"] == 80.0
    assert row["consensus"] == "in"
    assert row["reason"] == "4/5 (80%) rated 7-9 (>= 75% needed)"
    assert row["status"] == "resolved"
    assert "p30" not in results.columns  # only for rand_ucla


def test_rand_ucla_columns_when_the_rule_uses_it() -> None:
    rule = ConsensusSection(rule="any_of", rules=[RuleSpec(rule="percent_agreement"),
                                                  RuleSpec(rule="rand_ucla")])
    results = analyze(frame(_round("S1", [1, 2, 3] + [7] * 5 + [8] * 5 + [9] * 2)), rule, 9)
    row = results.iloc[0]
    assert (row["p30"], row["p70"], row["ipr"], row["ipras"]) == (7.0, 8.0, 1.0, 6.1)


def test_eligible_participants_set_the_response_rate() -> None:
    results = analyze(frame(_round("S1", [9, 9, 8, None])), PA, 9, eligible={1: 10})
    assert results.iloc[0]["participants"] == 10
    assert results.iloc[0]["response_rate"] == 30.0


def test_integer_statement_ids_are_kept_and_sorted_numerically() -> None:
    rows = [(1, 10, "a", 7), (1, 9, "a", 7), (1, 100, "a", 7)]
    results = analyze(frame(rows), PA, 9)
    assert results["statement"].tolist() == [9, 10, 100]


def test_quantile_setting_changes_the_quartiles() -> None:
    ratings = frame(_round("S1", [5, 5, 6, 7, 7, 8, 8, 8, 9, 9]))
    type7 = analyze(ratings, PA, 9).iloc[0]
    type6 = analyze(ratings, ConsensusSection(rule="percent_agreement", quantile="type6"),
                    9).iloc[0]
    assert (type7["q1"], type7["q3"]) == (6.25, 8.0)
    assert (type6["q1"], type6["q3"]) == (5.75, 8.25)


def test_every_group_uses_the_group_column() -> None:
    rows = _round("S1", [9, 9, 9, 5, 5, 9], groups=["a", "a", "a", "b", "b", "b"])
    rule = ConsensusSection(rule="percent_agreement", threshold=0.6, every_group=True)
    results = analyze(frame(rows, group=True), rule, 9)
    assert results.iloc[0]["consensus"] == "none"
    assert "b: none" in results.iloc[0]["reason"]
    with pytest.raises(ValueError, match="group"):
        analyze(frame(_round("S1", [9, 9])), rule, 9)


def test_bad_ratings_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the 9-point scale"):
        analyze(frame(_round("S1", [10])), PA, 9)
    with pytest.raises(ValueError, match="more than once"):
        analyze(frame([(1, "S1", "P1", 7), (1, "S1", "P1", 8)]), PA, 9)
    with pytest.raises(ValueError, match="missing"):
        analyze(pd.DataFrame({"round": [1], "statement": ["S1"], "rating": [7]}), PA, 9)
    with pytest.raises(ValueError, match="integers"):
        analyze(pd.DataFrame({"round": [1], "statement": ["S1"], "participant": ["P"],
                              "rating": [7.5]}), PA, 9)


def test_plain_integer_and_float_rating_columns_are_accepted() -> None:
    base = {"round": [1, 1, 1], "statement": ["S1"] * 3, "participant": ["a", "b", "c"]}
    ints = analyze(pd.DataFrame({**base, "rating": [7, 8, 9]}), PA, 9)
    floats = analyze(pd.DataFrame({**base, "rating": [7.0, 8.0, np.nan]}), PA, 9)
    assert ints.iloc[0]["n"] == 3
    assert (floats.iloc[0]["n"], floats.iloc[0]["n_unable"]) == (2, 1)


def test_an_encoded_table_can_be_reused() -> None:
    ratings = frame(_round("S1", [9, 8, 7]))
    encoded = encode_ratings(ratings, 9)
    pd.testing.assert_frame_equal(analyze(encoded, PA, 9), analyze(ratings, PA, 9))
    with pytest.raises(ValueError, match="encoded for a 9-point scale"):
        analyze(encode_ratings(ratings, 9), PA, 5)


def test_decide_after_round_reads_the_results_table() -> None:
    rows = (_round("S1", [9, 9, 9, 9]) + _round("S2", [5, 5, 9, 1])
            + _round("S1", [9, 9, 9, 9], 2) + _round("S2", [5, 5, 9, 1], 2))
    stopping = StoppingSection(require_stability=True)
    results = analyze(frame(rows), PA, 9, stopping)
    round_two = results[results["round"] == 2]
    assert round_two["status"].tolist() == ["resolved", "stable"]
    assert decide_after_round(results, stopping, 3).finished
    first = decide_after_round(results, stopping, 3, round_number=1)
    assert not first.finished and first.carry == ("S1", "S2")
