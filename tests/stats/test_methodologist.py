"""Individual stability, attrition bias and careless-responding flags on hand-made panels,
checked against independent computations written out here (or scipy)."""

from __future__ import annotations

import csv
import itertools
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

from bot.app.analyze_cli import main
from engine.stats.attrition import attrition_table, retention
from engine.stats.careless import seconds_per_statement, speed, straight_lining
from engine.stats.individual import expert_stability, quadratic_kappa, statement_stability


def _frame(rows: list[tuple[int, str, str, int | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["round", "statement", "participant", "rating"])
    frame["rating"] = frame["rating"].astype("Int64")
    return frame


def _kappa_by_definition(a: list[int], b: list[int], points: int) -> float:
    """Cohen (1968) weighted kappa, weights (i - j)^2 / (k - 1)^2, as sklearn defines it:
    1 - sum(w * observed) / sum(w * expected), expected from the two marginals."""
    n = len(a)
    observed = Counter(zip(a, b, strict=True))
    rows, cols = Counter(a), Counter(b)
    w = {(i, j): (i - j) ** 2 / (points - 1) ** 2
         for i in range(1, points + 1) for j in range(1, points + 1)}
    num = sum(w[i, j] * observed[i, j] / n for i, j in w)
    den = sum(w[i, j] * rows[i] * cols[j] / n / n for i, j in w)
    return 1 - num / den


def test_quadratic_kappa_by_hand_and_by_definition() -> None:
    assert quadratic_kappa(np.array([1, 2, 3]), np.array([1, 2, 3]), 9) == 1.0
    assert math.isclose(quadratic_kappa(np.array([1, 2, 3]), np.array([3, 2, 1]), 9), -1.0)
    rng = np.random.default_rng(16)
    for _ in range(50):
        size = int(rng.integers(2, 30))
        a = rng.integers(1, 10, size)
        b = np.clip(a + rng.integers(-3, 4, size), 1, 9)
        expected = _kappa_by_definition(list(a), list(b), 9) if len(set(a)) > 1 or \
            len(set(b)) > 1 else float("nan")
        got = quadratic_kappa(a, b, 9)
        assert (math.isnan(got) and math.isnan(expected)) or math.isclose(got, expected,
                                                                          abs_tol=1e-12)


# Four experts, three statements, two rounds. P1 and P2 swap 3 <-> 7 on S1: the group
# distribution of S1 is unchanged (percent change 0), yet half the panel moved 4 points.
SWAP = [
    (1, "S1", "P1", 3), (1, "S1", "P2", 7), (1, "S1", "P3", 5), (1, "S1", "P4", 5),
    (2, "S1", "P1", 7), (2, "S1", "P2", 3), (2, "S1", "P3", 5), (2, "S1", "P4", 6),
    (1, "S2", "P1", 8), (1, "S2", "P2", 8), (1, "S2", "P3", 2), (1, "S2", "P4", None),
    (2, "S2", "P1", 8), (2, "S2", "P2", 9), (2, "S2", "P3", 2), (2, "S2", "P4", 4),
    (1, "S3", "P1", 1), (1, "S3", "P2", 9), (1, "S3", "P3", 6), (1, "S3", "P4", 6),
]


def test_individual_stability_sees_the_swap_the_group_test_misses() -> None:
    results = _frame(SWAP)[["round", "statement"]].drop_duplicates().reset_index(drop=True)
    kept = statement_stability(_frame(SWAP), results)
    by = {(int(r), s): (e, w) for r, s, e, w in zip(
        results["round"], results["statement"], kept["kept_exact"], kept["kept_within_1"],
        strict=True)}
    assert by[(2, "S1")] == (25.0, 50.0)  # P3 kept 5; P4 moved one point; P1, P2 swapped
    assert by[(2, "S2")] == (100 * 2 / 3, 100.0)  # P4 was unable in round 1: not paired
    assert all(math.isnan(v) for v in by[(1, "S1")])
    experts = expert_stability(_frame(SWAP), 9)
    row = experts[experts["participant"] == "P1"].iloc[0]
    assert (int(row["round"]), int(row["n_statements"])) == (2, 2)
    assert math.isclose(row["kappa_quadratic"], _kappa_by_definition([3, 8], [7, 8], 9))


def test_attrition_compares_dropouts_with_stayers() -> None:
    rows = [(1, "S1", f"P{i}", v) for i, v in enumerate([9, 9, 8, 8, 9, 2, 3, 1], start=1)]
    rows += [(2, "S1", f"P{i}", 8) for i in range(1, 6)]  # P6-P8 (the low raters) left
    ratings = _frame(rows)
    [row] = attrition_table(ratings, (7, 8, 9)).itertuples()
    stayed, dropped = [9, 9, 8, 8, 9], [2, 3, 1]
    u = sum(1.0 if x > y else 0.5 if x == y else 0.0
            for x, y in itertools.product(dropped, stayed))
    assert row.mannwhitney_u == u == 0.0
    assert row.mannwhitney_p == scipy.stats.mannwhitneyu(dropped, stayed).pvalue
    assert row.mannwhitney_p < 0.05 and row.flagged
    assert (row.n_stayed, row.n_dropped, row.pct_agree_stayed, row.pct_agree_dropped) == (
        5, 3, 100.0, 0.0)
    assert retention(ratings)["retention"].tolist() == [100.0, 62.5]


def test_careless_flags_straight_lining_and_speed_never_exclude() -> None:
    rows = [(1, f"S{i}", "P1", 7) for i in range(1, 7)]
    rows += [(1, f"S{i}", "P2", 3 + i % 4) for i in range(1, 7)]
    rows += [(1, f"S{i}", "P3", 5) for i in range(1, 5)] + [(1, "S5", "P3", None)]
    flags = straight_lining(_frame(rows))
    assert [(f.participant, f.detail) for f in flags] == [("P1", "rated all 6 statements 7")]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = pd.DataFrame(
        [(1, p, start, start + timedelta(seconds=gap * k)) for p, gap in
         (("P1", 2), ("P2", 30), ("P3", 40), ("P4", 25)) for k in range(1, 6)],
        columns=["round", "participant", "started_at", "rated_at"])
    medians = seconds_per_statement(times)
    assert medians[(1, "P1")] == 2 and medians[(1, "P3")] == 40
    assert [(f.participant, f.kind) for f in speed(medians)] == [("P1", "speed")]


def test_delphi_analyze_writes_the_expert_and_attrition_tables(tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("round,statement,participant,rating\n" + "".join(
        f"{r},{s},{p},{'' if v is None else v}\n" for r, s, p, v in SWAP), encoding="utf-8")
    out, experts, attrition = (tmp_path / n for n in ("r.csv", "e.csv", "a.csv"))
    assert main([str(path), "--out", str(out), "--methods", "--experts", str(experts),
                 "--attrition", str(attrition)]) == 0
    results = list(csv.DictReader(out.open()))
    assert [r["kept_exact"] for r in results if r["round"] == "2"] == ["25",
                                                                      "66.66666666666667"]
    rows = list(csv.DictReader(experts.open()))
    assert rows[0].keys() >= {"round", "participant", "straight_lining", "kappa_quadratic"}
    assert {r["participant"] for r in rows if r["round"] == "2"} == {"P1", "P2", "P3", "P4"}
    tested = list(csv.DictReader(attrition.open()))
    assert {r["statement"] for r in tested} == {"S1", "S2", "S3"}
    assert [r["n_dropped"] for r in tested if r["statement"] == "S3"] == ["0"]
