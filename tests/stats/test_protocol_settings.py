"""[consensus] min_valid, unable_in_denominator, exact thresholds, RAND median boundary:
through `delphi analyze` on hand-made files, and the frozen protocol they belong to."""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from bot.app.analyze_cli import main
from engine.stats import analyze
from engine.stats.descriptive import share_at_least
from engine.studyfile import ConsensusSection, StudyFileError, parse_study, share_fraction
from tests.engine.helpers import EXAMPLES


def _write(path: Path, rows: list[tuple[int, str, str, int | None]]) -> Path:
    lines = ["round,statement,participant,rating"]
    lines += [f"{r},{s},{p},{'' if v is None else v}" for r, s, p, v in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(tmp_path: Path, rows: list[tuple[int, str, str, int | None]],
         *flags: str) -> list[dict[str, str]]:
    ratings = _write(tmp_path / "ratings.csv", rows)
    out = tmp_path / "out.csv"
    assert main([str(ratings), "--out", str(out), *flags]) == 0
    with out.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


ONE_NINE = [(1, "S1", "P01", 9)] + [(1, "S1", f"P{i:02d}", None) for i in range(2, 11)]


def test_one_valid_rating_among_nine_unable_is_too_few_with_min_valid(tmp_path: Path) -> None:
    [today] = _run(tmp_path, ONE_NINE, "--methods")
    assert (today["consensus"], today["pct_agree"], today["verdict"]) == ("in", "100",
                                                                          "endorsed")
    [row] = _run(tmp_path, ONE_NINE, "--methods", "--min-valid", "5")
    assert row["consensus"] == "none" and row["verdict"] == "too_few_valid"
    assert row["reason"].startswith("too few valid ratings: 1 < 5 (min_valid)")
    assert row["pct_agree"] == "100"  # the statistics are still shown


def _sixty_five() -> list[tuple[int, str, str, int | None]]:
    """65 experts: 49 rate 7-9, 11 rate 1-6, 5 answer "don't know" (unable to rate)."""
    values: list[int | None] = [8] * 49 + [5] * 11 + [None] * 5
    return [(1, "S1", f"P{i:02d}", v) for i, v in enumerate(values, start=1)]


def test_unable_to_rate_in_the_denominator(tmp_path: Path) -> None:
    [valid_only] = _run(tmp_path, _sixty_five(), "--methods")
    assert float(valid_only["pct_agree"]) == 100 * 49 / 60  # 81.7 %: in
    assert valid_only["consensus"] == "in"
    [counted] = _run(tmp_path, _sixty_five(), "--methods", "--unable-in-denominator")
    assert float(counted["pct_agree"]) == 100 * 49 / 65  # 75.38 %: still in at 75 %
    assert counted["consensus"] == "in" and "49/65" in counted["reason"]
    [strict] = _run(tmp_path, _sixty_five(), "--unable-in-denominator", "--threshold", "0.76")
    assert strict["consensus"] == "none"
    assert float(counted["agree_ci_low"]) < float(valid_only["agree_ci_low"])


FIVE_OF_SEVEN = [(1, "S1", f"P{i}", 8 if i <= 5 else 2) for i in range(1, 8)]


def test_thresholds_compare_exactly_as_written(tmp_path: Path) -> None:
    [decimal] = _run(tmp_path, FIVE_OF_SEVEN, "--threshold", "0.7142857142857143")
    assert decimal["consensus"] == "none"  # 5/7 = 0.714285714285714285... < the decimal
    [fraction] = _run(tmp_path, FIVE_OF_SEVEN, "--threshold", "5/7")
    assert fraction["consensus"] == "in" and "(>= 5/7 needed)" in fraction["reason"]
    assert share_fraction("5/7") == Fraction(5, 7)
    assert share_fraction(0.7142857142857143) == Fraction("0.7142857142857143")
    k, n = np.array([5, 10, 15]), np.array([7, 14, 21])
    assert not share_at_least(k, n, share_fraction(0.7142857142857143)).any()
    assert share_at_least(k, n, Fraction(5, 7)).all()


def test_rand_median_boundary_is_a_setting(tmp_path: Path) -> None:
    values = [6, 6, 6, 7, 7, 7, 6, 7, 6, 7]  # median 6.5, no disagreement
    rows = [(1, "S1", f"P{i:02d}", v) for i, v in enumerate(values, start=1)]
    [default] = _run(tmp_path, rows, "--rule", "rand_ucla")
    assert default["median"] == "6.5" and default["consensus"] == "none"
    [outer] = _run(tmp_path, rows, "--rule", "rand_ucla", "--median-boundary", "outer")
    assert outer["consensus"] == "in"


def test_new_settings_cannot_be_combined_with_a_study_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = _write(tmp_path / "ratings.csv", ONE_NINE)
    assert main([str(ratings), "--study", str(EXAMPLES / "tiny.toml"), "--min-valid",
                 "3"]) == 2
    assert "--min-valid cannot be combined with --study" in capsys.readouterr().err


TINY = (EXAMPLES / "tiny.toml").read_text(encoding="utf-8")


def test_study_file_settings_are_frozen_in_the_protocol_and_defaults_keep_the_hash() -> None:
    plain = parse_study(TINY)
    assert "min_valid" not in plain.canonical_json()
    assert "unable_in_denominator" not in plain.canonical_json()
    assert "ballots" not in plain.canonical_json()
    assert "median_boundary" not in plain.canonical_json()
    changed = parse_study(TINY.replace('threshold = 0.75', 'threshold = "3/4"\nmin_valid = 3\n'
                                       'unable_in_denominator = true\nballots = "submitted"'))
    protocol = changed.protocol()["consensus"]
    assert protocol["threshold"] == "3/4" and protocol["min_valid"] == 3
    assert protocol["unable_in_denominator"] is True and protocol["ballots"] == "submitted"
    assert changed.content_hash() != plain.content_hash()
    with pytest.raises(StudyFileError, match="threshold"):
        parse_study(TINY.replace('threshold = 0.75', 'threshold = "8/7"'))
    with pytest.raises(StudyFileError, match="ballots"):
        parse_study(TINY.replace('threshold = 0.75', 'threshold = 0.75\nballots = "all"'))


def test_analyze_applies_min_valid_in_groups_of_rules() -> None:
    import pandas as pd

    frame = pd.DataFrame(ONE_NINE, columns=["round", "statement", "participant", "rating"])
    frame["rating"] = frame["rating"].astype("Int64")
    rule = ConsensusSection(rule="all_of", min_valid=2, rules=[
        ConsensusSection(rule="percent_agreement"), ConsensusSection(rule="grade_70_15")])
    assert analyze(frame, rule, 9).iloc[0]["consensus"] == "none"


def test_the_sensitivity_table_uses_the_study_settings_for_the_study_rule() -> None:
    import pandas as pd

    from engine.stats import sensitivity_table

    rows = _sixty_five() + [(r, "S2", p, v) for r, _, p, v in ONE_NINE]
    frame = pd.DataFrame(rows, columns=["round", "statement", "participant", "rating"])
    frame["rating"] = frame["rating"].astype("Int64")
    rule = ConsensusSection(rule="percent_agreement", threshold=0.76, min_valid=3,
                            unable_in_denominator=True)
    classes = dict(zip(analyze(frame, rule, 9)["statement"],
                       analyze(frame, rule, 9)["consensus"], strict=True))
    assert classes == {"S1": "none", "S2": "none"}  # 49/65 < 76 %; 1 valid < 3
    table = sensitivity_table(frame, rule, 9)
    study = table[table["definition"] == "study"]
    assert dict(zip(study["statement"], study["consensus"], strict=True)) == classes


def test_the_report_states_the_rand_conventions_with_their_source() -> None:
    from engine.report.document import describe_rule

    default = " ".join(describe_rule(ConsensusSection(rule="rand_ucla"), 9))
    assert "Fitch et al., The RAND/UCLA Appropriateness Method User's Manual" in default
    assert "medians 6.5 and 3.5 are uncertain" in default
    counted = " ".join(describe_rule(ConsensusSection(
        rule="rand_ucla", disagreement="count", median_boundary="outer"), 9))
    assert "medians 6.5 and 3.5 count as appropriate / inappropriate" in counted
    assert "covers 8-16 panellists" in counted and "our extension" in counted
    fraction = " ".join(describe_rule(ConsensusSection(rule="percent_agreement",
                                                       threshold="5/7"), 9))
    assert "≥ 5/7 (71.43 %)" in fraction
