"""Stability between rounds: Wilcoxon, percent change and McNemar on hand-computed cases."""

from __future__ import annotations

import math
from fractions import Fraction
from math import comb

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from engine.stats import analyze
from engine.stats.stability import is_stable, mcnemar_exact, paired_stability
from engine.studyfile import ConsensusSection, StoppingSection
from tests.stats.helpers import frame

AGREE = [7, 8, 9]
PA = ConsensusSection(rule="percent_agreement")


def pairs_with_differences(differences: list[int], start: int = 5) -> tuple[list[int],
                                                                           list[int]]:
    before = [start] * len(differences)
    return before, [b + d for b, d in zip(before, differences, strict=True)]


def test_wilcoxon_asymptotic_by_hand() -> None:
    # six +1, two -1, three +2, five 0: zeros dropped, n = 11; |d| = 1 has mid-rank 4.5
    # (ranks 1-8) and |d| = 2 mid-rank 10 (ranks 9-11): R+ = 6 * 4.5 + 3 * 10 = 57,
    # R- = 9; mean 33; variance 11*12*23/24 - (8^3 - 8 + 3^3 - 3)/48 = 126.5 - 11 = 115.5
    before, after = pairs_with_differences([1] * 6 + [-1] * 2 + [2] * 3 + [0] * 5)
    result = paired_stability(before, after, 9, AGREE).wilcoxon
    assert result.method == ["asymptotic"]
    assert int(result.n[0]) == 11
    assert result.w[0] == 9.0
    z = 24 / math.sqrt(115.5)
    assert result.z[0] == pytest.approx(z, rel=1e-15)
    assert result.p[0] == pytest.approx(0.02553, abs=5e-5)
    reference = scipy.stats.wilcoxon(after, before)
    assert result.p[0] == reference.pvalue  # bit for bit
    assert result.w[0] == reference.statistic


def test_wilcoxon_exact_without_ties_or_zeros() -> None:
    # d = 1, -2, 3, 4, 5: R+ = 13, R- = 2; P(R- <= 2) = 3/32 ({}, {1}, {2}), two-sided 6/32
    before, after = [5, 6, 2, 3, 4], [6, 4, 5, 7, 9]
    result = paired_stability(before, after, 9, AGREE).wilcoxon
    assert result.method == ["exact"]
    assert result.w[0] == 2.0
    assert result.p[0] == 0.1875
    assert result.p[0] == scipy.stats.wilcoxon(after, before).pvalue


def test_wilcoxon_small_sample_with_zeros_uses_the_permutation_distribution() -> None:
    # d = 1, 1, 0, 2: R+ = 6 is the largest of the 8 equally likely sign patterns of the
    # non-zero differences, so p = 2 * 1/8
    before, after = pairs_with_differences([1, 1, 0, 2])
    result = paired_stability(before, after, 9, AGREE).wilcoxon
    assert result.method == ["permutation"]
    assert result.p[0] == pytest.approx(0.25, abs=1e-12)
    assert result.p[0] == scipy.stats.wilcoxon(after, before).pvalue


def test_wilcoxon_when_nobody_changed() -> None:
    table = paired_stability([7, 8, 9], [7, 8, 9], 9, AGREE)
    assert table.wilcoxon.method == [""]
    assert np.isnan(table.wilcoxon.p[0])
    _, stable = is_stable(table, StoppingSection(stability="wilcoxon"))
    assert stable.tolist() == [True]


@pytest.mark.parametrize(("sizes", "cases"), [((3, 10), 40), ((10, 13), 3), ((14, 120), 200)])
def test_wilcoxon_matches_scipy_on_random_panels(sizes: tuple[int, int], cases: int) -> None:
    # small panels exercise the exact and permutation paths (scipy enumerates 2^n sign
    # patterns there, so few cases), larger ones the normal approximation
    rng = np.random.default_rng(sizes[0])
    checked = 0
    while checked < cases:
        n = int(rng.integers(*sizes))
        before = rng.integers(1, 10, n)
        after = np.clip(before + rng.integers(-3, 4, n), 1, 9)
        if np.all(before == after):
            continue
        ours = paired_stability(before.tolist(), after.tolist(), 9, AGREE).wilcoxon
        reference = scipy.stats.wilcoxon(after, before)
        assert ours.p[0] == reference.pvalue, (before.tolist(), after.tolist(), ours.method)
        assert ours.w[0] == reference.statistic
        checked += 1


def test_permutation_p_values_by_counting_match_scipy_at_thirteen_pairs() -> None:
    before = [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]
    after = [6, 5, 4, 7, 6, 6, 5, 3, 6, 8, 6, 5, 7]  # zeros and ties: permutation path
    ours = paired_stability(before, after, 9, AGREE).wilcoxon
    assert ours.method == ["permutation"]
    assert ours.p[0] == scipy.stats.wilcoxon(after, before).pvalue


def test_percent_change_by_hand() -> None:
    # before 7 7 8 8 9 -> after 7 8 8 9 9: counts (2, 2, 1) -> (1, 2, 2): (1 + 0 + 1) / 2 / 5
    table = paired_stability([7, 7, 8, 8, 9], [7, 8, 8, 9, 9], 9, AGREE)
    assert table.pct_change[0] == 20.0
    assert not is_stable(table, StoppingSection())[1][0]  # 20 % > 15 %
    assert is_stable(table, StoppingSection(percent_change_limit=0.2))[1][0]  # at the limit


def test_percent_change_ignores_swaps_that_keep_the_distribution() -> None:
    table = paired_stability([1, 9], [9, 1], 9, AGREE)
    assert table.pct_change[0] == 0.0


@pytest.mark.parametrize(("b", "c", "expected"), [
    (1, 6, Fraction(16, 128)),  # 2 * (C(7,0) + C(7,1)) / 2^7
    (0, 5, Fraction(2, 32)),
    (3, 3, Fraction(1)),
    (0, 0, Fraction(1)),
    (2, 9, Fraction(2 * (1 + 11 + 55), 2**11)),
])
def test_mcnemar_exact_by_hand(b: int, c: int, expected: Fraction) -> None:
    assert mcnemar_exact(np.array([b]), np.array([c]))[0] == float(expected)
    if b + c:
        assert mcnemar_exact(np.array([b]), np.array([c]))[0] == pytest.approx(
            scipy.stats.binomtest(min(b, c), b + c).pvalue, rel=1e-12)


def test_mcnemar_is_correctly_rounded_for_larger_panels() -> None:
    for b, c in [(40, 61), (150, 170), (3, 400), (250, 251)]:
        k, m = min(b, c), b + c
        exact = min(Fraction(1), Fraction(2 * sum(comb(m, i) for i in range(k + 1)), 2**m))
        assert mcnemar_exact(np.array([b]), np.array([c]))[0] == float(exact)


def test_mcnemar_counts_moves_across_the_agree_boundary() -> None:
    table = paired_stability([7, 8, 5, 6, 9], [5, 8, 7, 7, 9], 9, AGREE)
    assert (int(table.mcnemar_b[0]), int(table.mcnemar_c[0])) == (1, 2)
    assert table.mcnemar_p[0] == 1.0


def _two_rounds() -> pd.DataFrame:
    rows = []
    first = {"P1": 7, "P2": 8, "P3": 5, "P4": None, "P5": 9}
    second = {"P1": 8, "P2": 8, "P3": 7, "P4": 6, "P6": 9}
    for who, value in first.items():
        rows.append((1, "S1", who, value))
        rows.append((1, "S2", who, value))
    for who, value in second.items():
        rows.append((2, "S1", who, value))
        rows.append((2, "S3", who, value))
    return frame(rows)


def test_only_participants_who_rated_both_times_are_paired() -> None:
    results = analyze(_two_rounds(), PA, 9)
    s1 = results[(results["round"] == 2) & (results["statement"] == "S1")].iloc[0]
    # P4 was unable in round 1, P5 left, P6 is new: pairs are P1 7->8, P2 8->8, P3 5->7
    assert s1["prev_round"] == 1
    assert s1["n_paired"] == 3
    assert s1["pct_change"] == 100 * 2 / 6  # counts 5,7,8 -> 7,8,8: |-1|+0+|1|... = 2
    assert (s1["mcnemar_b"], s1["mcnemar_c"]) == (0, 1)
    assert s1["wilcoxon_n"] == 2
    new = results[(results["round"] == 2) & (results["statement"] == "S3")].iloc[0]
    assert pd.isna(new["prev_round"]) and pd.isna(new["n_paired"]) and pd.isna(new["stable"])
    first = results[results["round"] == 1]
    assert first["prev_round"].isna().all()


def test_a_gap_between_rounds_is_not_a_carried_statement() -> None:
    rows = [(1, "S1", "P1", 7), (1, "S1", "P2", 8), (3, "S1", "P1", 7), (3, "S1", "P2", 8)]
    results = analyze(frame(rows), PA, 9)
    assert results["prev_round"].isna().all()


def test_stable_column_follows_the_chosen_test() -> None:
    rows = [(r, "S1", f"P{i}", v) for r, values in ((1, [7, 7, 8, 8, 9]), (2, [7, 8, 8, 9, 9]))
            for i, v in enumerate(values)]
    ratings = frame(rows)
    by_change = analyze(ratings, PA, 9, StoppingSection())
    by_wilcoxon = analyze(ratings, PA, 9,
                          StoppingSection(stability="wilcoxon"))
    assert not bool(by_change["stable"].iloc[1])  # percent change 20 % > 15 %
    assert bool(by_wilcoxon["stable"].iloc[1]) is True  # p well above 0.05
