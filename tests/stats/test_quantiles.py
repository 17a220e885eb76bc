"""Quantiles from counts: exact, and equal to numpy / pandas / statistics where they are exact."""

from __future__ import annotations

import statistics
from fractions import Fraction
from typing import Literal

import numpy as np
import pandas as pd
import pytest

from engine.stats.quantiles import (
    as_fraction,
    cumulative,
    order_statistic,
    quantile,
    quantile_of_values,
    quantile_parts,
)
from tests.stats.helpers import exact_quantile, table

NUMPY_METHOD: dict[str, Literal["linear", "weibull"]] = {"type7": "linear", "type6": "weibull"}


def _random_samples(seed: int, count: int, points: int = 9) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [list(rng.integers(1, points + 1, size=int(rng.integers(1, 60))))
            for _ in range(count)]


@pytest.mark.parametrize("method", ["type7", "type6"])
def test_quartiles_equal_numpy_bit_for_bit(method: str) -> None:
    samples = _random_samples(1, 400)
    counts = table(*samples, method=method)  # type: ignore[arg-type]
    for q, name in ((0.25, "q1"), (0.5, "median"), (0.75, "q3")):
        ours = quantile(counts.cum, q, method)  # type: ignore[arg-type]
        expected = [np.percentile(np.array(s), 100 * q, method=NUMPY_METHOD[method])
                    for s in samples]
        assert ours.tolist() == [float(e) for e in expected], name


def test_type7_equals_pandas_quantile() -> None:
    samples = _random_samples(2, 200)
    ours = quantile(table(*samples).cum, 0.25, "type7")
    expected = [pd.Series(s).quantile(0.25) for s in samples]
    assert ours.tolist() == expected


def test_type6_equals_python_statistics_exclusive_quartiles() -> None:
    samples = [s for s in _random_samples(3, 200) if len(s) >= 2]
    cum = table(*samples, method="type6").cum
    q1, q2, q3 = (quantile(cum, q, "type6") for q in (0.25, 0.5, 0.75))
    for i, sample in enumerate(samples):
        expected = statistics.quantiles(sample, n=4, method="exclusive")
        if min(sample) <= expected[0] and expected[2] <= max(sample):  # statistics doesn't clamp
            assert [q1[i], q2[i], q3[i]] == expected


@pytest.mark.parametrize("method", ["type7", "type6"])
@pytest.mark.parametrize("q", ["0.3", "0.7", "0.1", "0.9", "0.25"])
def test_every_quantile_is_the_exact_rational_value(method: str, q: str) -> None:
    samples = _random_samples(4, 300)
    numerators, denominator, valid = quantile_parts(table(*samples).cum, q, method)  # type: ignore[arg-type]
    assert valid.all()
    for i, sample in enumerate(samples):
        assert Fraction(int(numerators[i]), denominator) == exact_quantile(
            sample, Fraction(q), method)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["type7", "type6"])
def test_p30_p70_agree_with_numpy_to_rounding(method: str) -> None:
    samples = _random_samples(5, 400)
    cum = table(*samples).cum
    for q in (0.3, 0.7):
        ours = quantile(cum, q, method)  # type: ignore[arg-type]
        expected = np.array([np.percentile(np.array(s), 100 * q,
                                           method=NUMPY_METHOD[method]) for s in samples])
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)


def test_numpy_weibull_p30_drifts_at_n9_but_ours_is_exact() -> None:
    # numpy's position is 9*0.3 + 0.3 - 1 = 1.9999999999999996, not 2
    sample = [1, 1, 7, 7, 7, 8, 8, 9, 9]  # P30 lies between x[1] = 1 and x[2] = 7
    numpy_value = np.percentile(np.array(sample), 30, method="weibull")
    assert numpy_value != 7.0
    assert abs(numpy_value - 7.0) < 1e-14
    assert quantile_of_values(sample, 0.3, "type6", 9) == 7.0


def test_type6_and_type7_differ_on_a_small_panel() -> None:
    # sorted 5 5 6 7 7 8 8 8 9 9 (n = 10)
    sample = [5, 5, 6, 7, 7, 8, 8, 8, 9, 9]
    assert quantile_of_values(sample, 0.25, "type7", 9) == 6.25  # h = 2.25
    assert quantile_of_values(sample, 0.25, "type6", 9) == 5.75  # h = 1.75
    assert quantile_of_values(sample, 0.75, "type7", 9) == 8.0  # h = 6.75
    assert quantile_of_values(sample, 0.75, "type6", 9) == 8.25  # h = 7.25


def test_type6_clamps_to_the_sample_at_the_ends() -> None:
    assert quantile_of_values([3, 8], 0.25, "type6", 9) == 3.0  # h = -0.25
    assert quantile_of_values([3, 8], 0.75, "type6", 9) == 8.0  # h = 1.25
    assert quantile_of_values([4], 0.25, "type6", 9) == 4.0
    assert quantile_of_values([4], 0.75, "type7", 9) == 4.0


def test_no_ratings_give_nan() -> None:
    cum = table([], [5]).cum
    assert np.isnan(quantile(cum, 0.5, "type7")[0])
    assert quantile(cum, 0.5, "type7")[1] == 5.0


def test_order_statistic_reads_cumulative_counts() -> None:
    cum = cumulative(np.array([[2, 0, 3]], dtype=np.int64))  # 1 1 3 3 3
    assert [int(order_statistic(cum, np.array([k]))[0]) for k in range(5)] == [1, 1, 3, 3, 3]


def test_probabilities_are_read_as_written_decimals() -> None:
    assert as_fraction(0.3) == Fraction(3, 10)
    assert as_fraction("0.75") == Fraction(3, 4)
    with pytest.raises(ValueError):
        as_fraction(1.5)
