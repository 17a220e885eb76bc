"""Descriptive statistics from counts, against hand values and reference libraries."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from engine.stats.descriptive import describe, percent, sample_sd
from tests.stats.helpers import table


def test_hand_computed_statement() -> None:
    # 5 5 6 7 7 8 8 8 9 9 plus two "unable to rate"
    columns = describe(table([5, 5, 6, 7, 7, 8, 8, 8, 9, 9, None, None]), [7, 8, 9], [1, 2, 3])
    assert columns["n"].tolist() == [10]
    assert columns["n_unable"].tolist() == [2]
    assert [int(columns[f"count_{k}"][0]) for k in range(1, 10)] == [0, 0, 0, 0, 2, 1, 2, 3, 2]
    assert columns["median"][0] == 7.5
    assert columns["q1"][0] == 6.25
    assert columns["q3"][0] == 8.0
    assert columns["iqr"][0] == 1.75
    assert columns["mean"][0] == 7.2
    assert columns["sd"][0] == statistics.stdev([5, 5, 6, 7, 7, 8, 8, 8, 9, 9])
    assert columns["sd"][0] == pytest.approx(1.4757295747452437, rel=1e-15)
    assert columns["cv"][0] == columns["sd"][0] / 7.2
    assert columns["pct_agree"][0] == 70.0
    assert columns["pct_disagree"][0] == 0.0
    assert columns["pct_neutral"][0] == 30.0


def test_type6_quartiles_on_request() -> None:
    columns = describe(table([5, 5, 6, 7, 7, 8, 8, 8, 9, 9], method="type6"), [7, 8, 9],
                       [1, 2, 3])
    assert (columns["q1"][0], columns["median"][0], columns["q3"][0]) == (5.75, 7.5, 8.25)
    assert columns["iqr"][0] == 2.5


def test_sd_is_correctly_rounded_and_matches_numpy_closely() -> None:
    rng = np.random.default_rng(7)
    samples = [list(rng.integers(1, 10, size=int(rng.integers(2, 80)))) for _ in range(300)]
    columns = describe(table(*samples), [7, 8, 9], [1, 2, 3])
    for i, sample in enumerate(samples):
        values = [int(v) for v in sample]
        assert columns["sd"][i] == statistics.stdev(values)  # exact fractions, one rounding
        assert columns["mean"][i] == np.mean(values)
        np.testing.assert_allclose(columns["sd"][i], np.std(values, ddof=1), rtol=1e-14)


def test_percentages_are_the_nearest_double() -> None:
    assert percent(np.array([1, 2]), np.array([3, 3])).tolist() == [100 / 3, 200 / 3]
    assert percent(np.array([0]), np.array([0]))[0] != percent(np.array([0]),
                                                               np.array([0]))[0]  # NaN


def test_small_and_empty_statements_give_na_not_errors() -> None:
    columns = describe(table([4], [], [None, None]), [7, 8, 9], [1, 2, 3])
    assert columns["n"].tolist() == [1, 0, 0]
    assert columns["n_unable"].tolist() == [0, 0, 2]
    assert columns["median"][0] == 4.0
    assert np.isnan(columns["sd"][0])  # one rating has no sample SD
    assert all(np.isnan(columns[name][1]) for name in ("median", "mean", "sd", "pct_agree"))


def test_sample_sd_of_identical_ratings_is_zero() -> None:
    assert sample_sd(np.array([21]), np.array([147]), np.array([3])).tolist() == [0.0]
