"""`delphi demo`: a real simulated study, the same every time for the same seed."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.cli import main


def run(out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["demo", "--out", str(out), "--seed", "3", *extra]) == 0
    return capsys.readouterr().out


def test_demo_runs_a_whole_study_deterministically(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    first = run(tmp_path / "a", capsys, "--experts", "6")
    second = run(tmp_path / "b", capsys, "--experts", "6")
    assert first.replace(str(tmp_path / "a"), "X") == second.replace(str(tmp_path / "b"), "X")
    lines = first.splitlines()
    start = lines.index("round  rated  consensus in  consensus out  no consensus  reminders") + 2
    table = [line.split() for line in lines[start:lines.index("", start)]]
    assert [int(row[0]) for row in table] == list(range(1, len(table) + 1))
    assert table[0][1] == "30"  # every statement rated in round 1
    assert int(table[0][5]) >= 1  # the late experts were reminded
    for name in ("ratings.csv", "statements.csv", "comments.csv", "results.csv",
                 "participants.csv", "flow.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    ratings = list(csv.DictReader((tmp_path / "a" / "ratings.csv").open()))
    assert {r["participant"] for r in ratings} == {f"P{i:02d}" for i in range(1, 7)}
    assert any(r["rating"] == "" for r in ratings)  # some "unable to rate"
    round_two = {r["participant"] for r in ratings if r["round"] == "2"}
    assert len(round_two) == 5  # one expert withdrew after round 1
    transcript = (tmp_path / "a" / "transcript-expert-01.txt").read_text()
    assert "Round 1 summary" in transcript and "I agree to take part" in transcript
    assert "Round 2 · Statement 1 of" in first and "Round 1 results (n = " in first
    assert "Dr Simulated" not in (tmp_path / "a" / "ratings.csv").read_text()
    report = (tmp_path / "a" / "report.html").read_text()
    assert report.startswith("<!DOCTYPE html>") and "Dr Simulated" not in report
    assert "Consensus recommendations" in report and (tmp_path / "a" / "study.xlsx").exists()
    assert f"Report: {tmp_path / 'a' / 'report.html'}" in first
