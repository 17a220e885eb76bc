"""Confidence in `delphi analyze`: read when present, two sensitivity rows per
statement-round, never a change to the verdict, and no change at all without it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bot.app.analyze_cli import main
from engine.stats import RatingsFileError, read_ratings_csv

# S1: three agree, two disagree; the two disagreeing ratings are the only low-confidence
# ones, so leaving them out gives consensus, and weighting by confidence gives it too.
PLAIN = """round,statement,participant,rating
1,S1,P1,8
1,S1,P2,8
1,S1,P3,9
1,S1,P4,2
1,S1,P5,3
1,S2,P1,5
1,S2,P2,5
1,S2,P3,6
1,S2,P4,4
1,S2,P5,5
"""
LEVELS = ["high", "high", "medium", "low", "LOW", "", "NA", "medium", "high", "2"]


def with_levels(levels: list[str]) -> str:
    lines = PLAIN.splitlines()
    return "\n".join([lines[0] + ",confidence",
                      *(f"{line},{level}" for line, level in zip(lines[1:], levels,
                                                                 strict=True))]) + "\n"


def analyze(tmp_path: Path, name: str, text: str) -> tuple[str, str]:
    ratings = tmp_path / f"{name}.csv"
    ratings.write_text(text, encoding="utf-8")
    out, sens = tmp_path / f"{name}-results.csv", tmp_path / f"{name}-sens.csv"
    assert main([str(ratings), "--out", str(out), "--sensitivity", str(sens)]) == 0
    return out.read_text(encoding="utf-8"), sens.read_text(encoding="utf-8")


def test_confidence_is_read_as_levels(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text(with_levels(LEVELS), encoding="utf-8")
    frame = read_ratings_csv(path, 9)
    assert frame["confidence"].fillna(0).tolist() == [3, 3, 2, 1, 1, 0, 0, 2, 3, 2]
    path.write_text(with_levels(["sure", *LEVELS[1:]]), encoding="utf-8")
    with pytest.raises(RatingsFileError) as caught:
        read_ratings_csv(path, 9)
    assert caught.value.lines() == [
        f"{path}:2: confidence 'sure' is not low, medium or high (or empty)"]


def test_confidence_adds_sensitivity_rows_and_never_changes_the_verdict(
        tmp_path: Path) -> None:
    plain_results, plain_sens = analyze(tmp_path, "plain", PLAIN)
    results, sens = analyze(tmp_path, "confident", with_levels(LEVELS))
    assert results == plain_results  # the pre-registered verdict ignores confidence
    assert sens.startswith(plain_sens)  # the alternatives are as they were
    added = sens[len(plain_sens):].splitlines()
    assert [line.split(",")[:3] for line in added] == [
        ["1", "S1", "confidence_weighted"], ["1", "S2", "confidence_weighted"],
        ["1", "S1", "without_low_confidence"], ["1", "S2", "without_low_confidence"]]
    row = list(csv.DictReader(io.StringIO(sens)))[-2]
    assert row["definition"] == "without_low_confidence" and row["statement"] == "S1"
    assert row["consensus"] == "in" and row["study_consensus"] == "none"
    assert row["changed"] == "true"


def test_without_any_confidence_the_output_is_byte_for_byte_the_same(
        tmp_path: Path) -> None:
    plain = analyze(tmp_path, "plain", PLAIN)
    assert analyze(tmp_path, "empty", with_levels([""] * 10)) == plain
