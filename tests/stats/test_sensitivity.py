"""The same round under alternative consensus definitions."""

from __future__ import annotations

from engine.stats import changed_statements, default_definitions, sensitivity_table
from engine.stats.sensitivity import Definition
from engine.studyfile import ConsensusSection, RuleSpec
from tests.stats.helpers import frame

PA = ConsensusSection(rule="percent_agreement", threshold=0.75)


def _panel() -> list[tuple[int, str, str, int]]:
    # S1: 8/11 = 72.7 % in 7-9, median 7, IQR 8 - 6 = 2;  S2: everyone 9
    s1 = [9, 9, 8, 8, 8, 7, 7, 7, 5, 5, 4]
    return ([(1, "S1", f"P{i}", v) for i, v in enumerate(s1)]
            + [(1, "S2", f"P{i}", 9) for i in range(11)])


def test_default_definitions_on_nine_points() -> None:
    names = [d.name for d in default_definitions(PA, 9)]
    assert names == ["percent_agreement_70", "percent_agreement_75", "percent_agreement_80",
                     "median_iqr_7_1", "median_iqr_7_2", "grade_70_15", "rand_ucla_ipr",
                     "rand_ucla_count"]


def test_default_definitions_on_five_points_use_the_agree_sets() -> None:
    definitions = {d.name: d for d in default_definitions(
        ConsensusSection(rule="percent_agreement", agree=[4, 5], disagree=[1, 2]), 5)}
    assert "rand_ucla_ipr" not in definitions
    median = definitions["median_iqr_4_1"].spec
    assert (median.median_agree, median.median_disagree, median.max_iqr) == (4, 2, 1)


def test_statements_that_change_class_are_flagged() -> None:
    table = sensitivity_table(frame(_panel()), PA, 9)
    s1 = table[table["statement"] == "S1"].set_index("definition")
    assert s1.loc["study", "consensus"] == "none"
    assert s1.loc["percent_agreement_70", "consensus"] == "in"
    assert bool(s1.loc["percent_agreement_70", "changed"])
    assert not bool(s1.loc["percent_agreement_75", "changed"])
    assert s1.loc["median_iqr_7_2", "consensus"] == "in"
    assert s1.loc["median_iqr_7_1", "consensus"] == "none"
    s2 = table[table["statement"] == "S2"]
    assert not s2["changed"].any()
    assert set(s2["consensus"]) == {"in"}
    wide = changed_statements(table)
    assert wide["statement"].tolist() == ["S1"]
    assert wide.loc[0, "study"] == "none" and wide.loc[0, "percent_agreement_70"] == "in"


def test_custom_definitions() -> None:
    strict = Definition("pa90", ">= 90%", RuleSpec(rule="percent_agreement", threshold=0.9))
    table = sensitivity_table(frame(_panel()), PA, 9, [strict])
    assert table["definition"].tolist() == ["study", "pa90", "study", "pa90"]
    assert table["consensus"].tolist() == ["none", "none", "in", "in"]
