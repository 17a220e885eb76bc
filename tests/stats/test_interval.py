"""The Wilson interval against reference values (statsmodels, method="wilson")."""

from __future__ import annotations

import pytest

from engine.stats.interval import wilson_interval


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (8, 10, 0.490162, 0.943317),
    (0, 5, 0.0, 0.434482),
    (5, 5, 0.565518, 1.0),
    (15, 20, 0.531299, 0.888138),
])
def test_wilson_matches_reference(k: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(k, n)
    assert interval is not None
    assert interval == pytest.approx((low, high), abs=1e-6)


def test_wilson_without_ratings_and_out_of_range() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match=r"0\.\.4"):
        wilson_interval(5, 4)


def test_the_ends_are_exact() -> None:
    assert wilson_interval(0, 7) == (0.0, pytest.approx(0.3543, abs=1e-4))
    assert wilson_interval(7, 7)[1] == 1.0  # type: ignore[index]
    assert wilson_interval(0, 7)[0] == 0.0  # type: ignore[index]
