"""Every consensus rule on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from engine.stats import rand
from engine.stats.rules import Bands, bands_for, classify
from engine.studyfile import ConsensusSection, RuleSpec
from tests.stats.helpers import table

# BMJ Open 2012;2(5):e001431, Table 1: one each of 1, 2, 3; five 7s; five 8s; two 9s
BMJ = [1, 2, 3] + [7] * 5 + [8] * 5 + [9] * 2


def spec(rule: str, **fields: object) -> RuleSpec:
    return RuleSpec(rule=rule, **fields)


# --- percent agreement ------------------------------------------------------------


def test_percent_agreement_in_at_exactly_the_threshold() -> None:
    verdict = classify(spec("percent_agreement", threshold=0.75), [7, 8, 9, 9, 5, 6, 7, 8], 9)
    assert verdict.consensus == "in"
    assert verdict.reason == "6/8 (75%) rated 7-9 (>= 75% needed)"


def test_percent_agreement_just_below_the_threshold() -> None:
    ratings = [9] * 74 + [5] * 26  # 74 %
    assert classify(spec("percent_agreement", threshold=0.75), ratings, 9).consensus == "none"
    ratings = [9] * 7 + [5] * 3  # 70 % at a 0.7 threshold
    assert classify(spec("percent_agreement", threshold=0.7), ratings, 9).consensus == "in"


def test_percent_agreement_out() -> None:
    verdict = classify(spec("percent_agreement"), [1, 2, 3, 2, 1, 5, 1, 2], 9)
    assert verdict.consensus == "out"
    assert verdict.reason == "7/8 (87.5%) rated 1-3 (>= 75% needed)"


def test_percent_agreement_none_names_both_shares() -> None:
    verdict = classify(spec("percent_agreement"), [5, 5, 6, 7, 8, 9, 1, 2], 9)
    assert verdict.consensus == "none"
    assert "3/8 (37.5%) rated 7-9" in verdict.reason
    assert "2/8 (25%) rated 1-3" in verdict.reason


def test_percent_agreement_conflict_at_a_low_threshold_is_none() -> None:
    verdict = classify(spec("percent_agreement", threshold=0.5), [1, 1, 9, 9], 9)
    assert verdict.consensus == "none"
    assert verdict.reason.startswith("conflicting")


def test_unable_to_rate_is_not_in_the_denominator() -> None:
    verdict = classify(spec("percent_agreement"), [7, 7, 7, 5, None, None], 9)
    assert verdict.consensus == "in"
    assert "3/4 (75%)" in verdict.reason


def test_no_valid_ratings_is_none() -> None:
    verdict = classify(spec("percent_agreement"), [None, None], 9)
    assert (verdict.consensus, verdict.reason) == ("none", "no valid ratings")


def test_custom_agree_sets() -> None:
    rule = spec("percent_agreement", agree=[8, 9], disagree=[1, 2], threshold=0.6)
    verdict = classify(rule, [7, 8, 8, 9, 9], 9)
    assert verdict.consensus == "in"
    assert verdict.reason == "4/5 (80%) rated 8-9 (>= 60% needed)"


# --- median and IQR ---------------------------------------------------------------

FLIP = [5, 5, 6, 7, 7, 8, 8, 8, 9, 9]  # type 7: IQR 8 - 6.25 = 1.75; type 6: 8.25 - 5.75 = 2.5


def test_median_iqr_type7_and_type6_flip_the_call() -> None:
    rule = spec("median_iqr", median_agree=7, median_disagree=3, max_iqr=2)
    type7 = classify(rule, FLIP, 9, "type7")
    type6 = classify(rule, FLIP, 9, "type6")
    assert (type7.consensus, type6.consensus) == ("in", "none")
    assert type7.reason == "median 7.5 >= 7 and IQR 1.75 <= 2"
    assert type6.reason == "median 7.5 >= 7 but IQR 2.5 > 2"


def test_median_iqr_out_and_between() -> None:
    rule = spec("median_iqr", median_agree=7, median_disagree=3, max_iqr=1)
    assert classify(rule, [1, 2, 2, 3, 3], 9).consensus == "out"  # median 2, IQR 1
    between = classify(rule, [4, 5, 5, 6], 9)
    assert between.consensus == "none"
    assert between.reason == "median 5 below 7 and above 3 (IQR 0.5)"  # 5.25 - 4.75


def test_median_iqr_with_only_one_bound() -> None:
    rule = spec("median_iqr", median_agree=4, max_iqr=1)
    assert classify(rule, [4, 4, 5, 5], 5).consensus == "in"
    assert classify(rule, [1, 1, 1, 1], 5).consensus == "none"


# --- GRADE / COMET 70/15 -------------------------------------------------------


def test_grade_in() -> None:
    verdict = classify(spec("grade_70_15"), [7, 7, 8, 8, 9, 9, 9, 1, 5, 5], 9)
    assert verdict.consensus == "in"
    assert verdict.reason == "7/10 (70%) rated 7-9 (>= 70%) and 1/10 (10%) rated 1-3 (< 15%)"


def test_grade_fails_when_the_opposite_band_reaches_15_percent() -> None:
    ratings = [9] * 14 + [1] * 3 + [5] * 3  # 70 % and exactly 15 %
    assert classify(spec("grade_70_15"), ratings, 9).consensus == "none"
    ratings = [9] * 14 + [1] * 2 + [5] * 4  # 70 % and 10 %
    assert classify(spec("grade_70_15"), ratings, 9).consensus == "in"


def test_grade_out_is_the_mirror() -> None:
    ratings = [1] * 14 + [9] * 2 + [5] * 4
    verdict = classify(spec("grade_70_15"), ratings, 9)
    assert verdict.consensus == "out"
    assert verdict.reason.startswith("14/20 (70%) rated 1-3 (>= 70%)")


def test_grade_thresholds_are_configurable() -> None:
    ratings = [9] * 8 + [1] * 2  # 80 % / 20 %
    assert classify(spec("grade_70_15"), ratings, 9).consensus == "none"
    assert classify(spec("grade_70_15", grade_in=0.8, grade_against=0.25), ratings,
                    9).consensus == "in"


def test_grade_on_a_five_point_scale_uses_the_agree_sets() -> None:
    ratings = [5, 5, 4, 4, 4, 4, 4, 3, 2, 5]  # 9/10 in 4-5, 1/10 in 1-2
    verdict = classify(spec("grade_70_15"), ratings, 5)
    assert verdict.consensus == "in"
    assert "rated 4-5" in verdict.reason and "rated 1-2" in verdict.reason


# --- RAND/UCLA --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["type7", "type6"])
def test_rand_ucla_bmj_open_worked_example(method: str) -> None:
    result = rand.ipr_method(table(BMJ, method=method))  # type: ignore[arg-type]
    assert result.p30[0] == 7.0
    assert result.p70[0] == 8.0
    assert result.ipr[0] == 1.0
    assert result.iprcp[0] == 7.5
    assert result.ai[0] == 2.5
    assert result.ipras[0] == 6.1
    assert result.di[0] == 10 / 61  # 1 / 6.1 exactly, correctly rounded
    assert not result.disagreement[0]
    verdict = classify(spec("rand_ucla"), BMJ, 9, method)  # type: ignore[arg-type]
    assert verdict.consensus == "in"
    assert verdict.reason == "median 7, no disagreement (IPR 1 <= IPRAS 6.1): appropriate"


def test_rand_ucla_bmj_example_with_the_count_method() -> None:
    counted = rand.count_method(table(BMJ), np.array([7.0]))
    assert (int(counted.low[0]), int(counted.high[0]), int(counted.outside[0])) == (3, 12, 3)
    assert (int(counted.disagree_at[0]), int(counted.agree_at[0])) == (5, 4)
    assert counted.agreement[0] and not counted.disagreement[0]  # "four or less outside"
    assert classify(spec("rand_ucla", disagreement="count"), BMJ, 9).consensus == "in"


def test_rand_ucla_disagreement_makes_a_high_median_uncertain() -> None:
    ratings = [1, 1, 2, 3, 7, 8, 8, 9, 9, 9, 9]  # median 8; P30 3, P70 9
    result = rand.ipr_method(table(ratings))
    assert (result.p30[0], result.p70[0], result.ipr[0]) == (3.0, 9.0, 6.0)
    assert result.ipras[0] == 2.35 + 1.5 * 1.0
    assert result.disagreement[0]
    verdict = classify(spec("rand_ucla"), ratings, 9)
    assert verdict.consensus == "none"
    assert verdict.reason == ("median 8, disagreement (IPR 6 > IPRAS 3.85): "
                              "uncertain (disagreement)")
    counted = classify(spec("rand_ucla", disagreement="count"), ratings, 9)
    assert counted.consensus == "none"  # n = 11: 4 low and 7 high, 4 needed in each


def test_rand_ucla_boundary_is_decided_exactly() -> None:
    # P30 = 3.9, P70 = 6.7: IPR 2.8 and IPRAS 2.35 + 1.5 * 0.3 = 2.8 exactly, so no
    # disagreement; naive floating point says 2.8000000000000003 > 2.8
    ratings = [1, 1, 2, 3, 6, 6, 6, 6, 7, 8, 9, 9]
    p30, p70 = np.percentile(ratings, 30), np.percentile(ratings, 70)
    assert (p70 - p30) > 2.35 + 1.5 * abs(5 - (p30 + p70) / 2)  # the naive answer
    result = rand.ipr_method(table(ratings))
    assert (result.p30[0], result.p70[0]) == (3.9, 6.7)
    assert not result.disagreement[0]
    assert result.di[0] == 1.0


def test_rand_ucla_median_bands() -> None:
    assert classify(spec("rand_ucla"), [1, 2, 3, 3, 4, 4], 9).consensus == "out"  # median 3
    half = classify(spec("rand_ucla"), [6, 6, 7, 7], 9)  # median 6.5
    assert half.consensus == "none"
    assert half.reason.endswith("uncertain (median 4-6)")
    assert classify(spec("rand_ucla"), [3, 3, 4, 4], 9).consensus == "none"  # median 3.5


def test_count_method_reproduces_the_manual_table_and_extends_it() -> None:
    n = np.arange(8, 26)
    d = rand.disagreement_threshold(n)
    assert d[:9].tolist() == [3, 3, 3, 4, 4, 4, 5, 5, 5]  # 8-10, 11-13, 14-16
    assert (d - 1)[9:].tolist() == [5, 5, 5, 6, 6, 6, 7, 7, 7]  # 17-19, 20-22, 23-25
    assert rand.disagreement_threshold(np.array([1, 2, 5])).tolist() == [1, 1, 2]


def test_count_method_disagreement_for_nine_panelists() -> None:
    rule = spec("rand_ucla", disagreement="count")
    assert classify(rule, [1, 1, 1, 5, 8, 8, 8, 9, 9], 9).consensus == "none"  # 3 and 5
    assert classify(rule, [1, 1, 5, 5, 8, 8, 8, 9, 9], 9).consensus == "in"  # only 2 low


def test_rand_ucla_refuses_other_scales() -> None:
    with pytest.raises(ValueError, match="1-9"):
        classify(spec("rand_ucla"), [1, 2, 3], 5)


# --- combinations and groups --------------------------------------------------------


def test_all_of_and_any_of() -> None:
    ratings = [7, 7, 8, 8, 8, 9, 9, 5]  # 87.5 % agree; median 8 but IQR 1.25
    subs = [spec("percent_agreement"), spec("median_iqr", median_agree=7, max_iqr=1)]
    all_of = classify(spec("all_of", rules=subs), ratings, 9)
    any_of = classify(spec("any_of", rules=subs), ratings, 9)
    assert (all_of.consensus, any_of.consensus) == ("none", "in")
    assert all_of.reason.startswith("all of: percent_agreement in (")
    assert "median_iqr none (median 8 >= 7 but IQR 1.25 > 1)" in all_of.reason


def test_any_of_with_conflicting_sub_rules_is_none() -> None:
    subs = [spec("percent_agreement", agree=[5, 6, 7, 8, 9], disagree=[1]),
            spec("percent_agreement", agree=[9], disagree=[1, 2, 3, 4, 5])]
    verdict = classify(spec("any_of", rules=subs), [5, 5, 5, 5], 9)
    assert verdict.consensus == "none"
    assert verdict.reason.startswith("any of - conflicting")
    assert classify(spec("all_of", rules=subs), [5, 5, 5, 5], 9).consensus == "none"


def test_all_of_out_when_every_rule_says_out() -> None:
    subs = [spec("percent_agreement"), spec("grade_70_15")]
    assert classify(spec("all_of", rules=subs), [1, 1, 2, 2, 3, 1], 9).consensus == "out"


def test_sub_rules_inherit_the_parent_agree_sets() -> None:
    top = ConsensusSection(rule="all_of", agree=[8, 9], disagree=[1, 2],
                           rules=[spec("percent_agreement"), spec("grade_70_15")])
    assert bands_for(top.rules[0], 9, bands_for(top, 9)) == Bands((8, 9), (1, 2))
    verdict = classify(top, [7, 7, 7, 7, 9], 9)  # in for 7-9, but only 20 % in 8-9
    assert verdict.consensus == "none"


def test_every_group_must_agree() -> None:
    rule = spec("percent_agreement", every_group=True)
    ratings = [9, 9, 9, 9, 5, 5, 5, 9]
    groups = ["clinicians"] * 4 + ["patients"] * 4
    verdict = classify(rule, ratings, 9, groups=groups)
    assert verdict.consensus == "none"
    assert verdict.reason.startswith("not the same consensus in every group: clinicians: in")
    assert "patients: none (1/4 (25%) rated 7-9" in verdict.reason
    assert classify(spec("percent_agreement"), ratings, 9).consensus == "none"  # 62.5 %
    same = classify(rule, [9, 9, 9, 8, 9, 7, 5], 9, groups=["a", "a", "a", "b", "b", "b", None])
    assert same.consensus == "in"  # the ungrouped 5 counts for no group
    assert same.reason.startswith("in in every group: a: in")


def test_every_group_out_in_every_group() -> None:
    rule = spec("grade_70_15", every_group=True)
    verdict = classify(rule, [1, 1, 2, 1, 1, 3], 9, groups=["a", "a", "a", "b", "b", "b"])
    assert verdict.consensus == "out"


def test_every_group_without_groups_is_an_error() -> None:
    with pytest.raises(ValueError, match="group"):
        classify(spec("percent_agreement", every_group=True), [9, 9], 9)
