"""Which rule makes sense on which scale: refused by `delphi study check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.stats.compat import agree_set_problems, rule_scale_problems
from engine.studyfile import RuleSpec, StudyFileError, parse_study

TINY = (Path(__file__).resolve().parents[2] / "engine" / "examples" / "tiny.toml").read_text(
    encoding="utf-8")


def _with_consensus(block: str) -> str:
    head, _, tail = TINY.partition("[consensus]")
    _, _, statements = tail.partition("[[statements]]")
    return f"{head}[consensus]\n{block}\n\n[[statements]]{statements}"


def test_rand_ucla_only_on_nine_points() -> None:
    assert rule_scale_problems(RuleSpec(rule="rand_ucla"), 9) == []
    assert rule_scale_problems(RuleSpec(rule="rand_ucla"), 5) == [
        ("rule", "rand_ucla is defined on the 1-9 scale only, not 5")]


def test_median_iqr_needs_sensible_bounds() -> None:
    assert rule_scale_problems(RuleSpec(rule="median_iqr"), 9)[0][0] == "median_agree"
    assert rule_scale_problems(RuleSpec(rule="median_iqr", median_agree=6), 5) == [
        ("median_agree", "6.0 outside the 5-point scale")]
    crossed = RuleSpec(rule="median_iqr", median_agree=3, median_disagree=4)
    assert rule_scale_problems(crossed, 9) == [
        ("median_agree", "3.0 must be above median_disagree (4.0)")]
    assert rule_scale_problems(RuleSpec(rule="median_iqr", median_agree=4), 5) == []


def test_degenerate_thresholds_are_refused() -> None:
    assert rule_scale_problems(RuleSpec(rule="percent_agreement", threshold=0), 9)[0][0] == (
        "threshold")
    bad = RuleSpec(rule="grade_70_15", grade_in=0.6, grade_against=0.6)
    assert rule_scale_problems(bad, 9)[0][0] == "grade_against"


def test_agree_set_problems_for_flag_users() -> None:
    spec = RuleSpec(rule="percent_agreement", agree=[4, 5, 6], disagree=[1, 4])
    assert agree_set_problems(spec, 5) == [
        ("agree", "[6] outside the 5-point scale (1-5)"),
        ("disagree", "overlaps agree at [4]"),
    ]


def test_study_check_refuses_rand_ucla_on_a_five_point_scale() -> None:
    with pytest.raises(StudyFileError) as caught:
        parse_study(_with_consensus('rule = "rand_ucla"'), "tiny.toml")
    assert "tiny.toml: consensus.rule: rand_ucla is defined on the 1-9 scale only, not 5" in str(
        caught.value)


def test_study_check_walks_into_sub_rules() -> None:
    block = ('rule = "all_of"\n[[consensus.rules]]\nrule = "percent_agreement"\n'
             '[[consensus.rules]]\nrule = "median_iqr"\nmedian_agree = 9\n')
    with pytest.raises(StudyFileError) as caught:
        parse_study(_with_consensus(block), "tiny.toml")
    assert "consensus.rules[2].median_agree: 9.0 outside the 5-point scale" in str(caught.value)


def test_a_sensible_five_point_rule_passes() -> None:
    study = parse_study(_with_consensus('rule = "grade_70_15"'), "tiny.toml")
    assert study.consensus.rule == "grade_70_15"
