"""The benchmark's baseline loop computes the same results as the engine (no timing)."""

from __future__ import annotations

import pytest

from bench import stats_bench
from engine.stats import default_definitions


def test_baseline_and_vectorised_agree_on_a_small_panel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_bench, "PARTICIPANTS", 40)
    monkeypatch.setattr(stats_bench, "STATEMENTS", 12)
    ratings = stats_bench.make_ratings(seed=3)
    assert len(ratings) == 40 * 12 * stats_bench.ROUNDS
    results, alternatives = stats_bench.vectorised(ratings)
    definitions = default_definitions(stats_bench.CONSENSUS, stats_bench.POINTS)
    rows, classes = stats_bench.baseline(ratings, definitions)
    check = stats_bench._agreement(results, alternatives, rows, classes)
    assert check["identical"], check["mismatches"]
    assert len(classes) == len(definitions) * 12 * stats_bench.ROUNDS
