"""`delphi demo`: a real simulated study, the same every time for the same seed."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.cli import main
from bot.tools.demo import TABLE_HEADER


def run(out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["demo", "--out", str(out), "--seed", "3", *extra]) == 0
    return capsys.readouterr().out


def test_demo_runs_a_whole_study_deterministically(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    first = run(tmp_path / "a", capsys, "--experts", "6")
    second = run(tmp_path / "b", capsys, "--experts", "6")
    assert "with 6 experts every statement ends as 'too few valid ratings'" in first
    assert first.replace(str(tmp_path / "a"), "X") == second.replace(str(tmp_path / "b"), "X")
    lines = first.splitlines()
    start = lines.index(TABLE_HEADER) + 2
    table = [line.split() for line in lines[start:lines.index("", start)]]
    assert [int(row[0]) for row in table] == list(range(1, len(table) + 1))
    assert table[0][1] == "30"  # every statement rated in round 1
    assert int(table[0][6]) >= 1  # the late experts were reminded
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


ROOT = Path(__file__).resolve().parents[2]
SECTION_OF = {"endorsed": "recommendations", "rejected": "rejected", "dropped": "dropped"}


def _demo_in_subprocess(out: Path, hash_seed: str) -> str:
    """The demo as a user runs it, in a fresh interpreter with its own string hashing."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-m", "bot.app.cli", "demo", "--out", str(out),
                           "--seed", "7"], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _sections(report: str) -> dict[str, str]:
    """Statement code -> the report section (anchor id) it is listed under."""
    where: dict[str, str] = {}
    section = ""
    for line in report.splitlines():
        heading = re.match(r"^### .*\{#(\w+)\}$", line)  # appendix A's sections
        if heading:
            section = heading.group(1)
        statement = re.match(r"^##### (S\d+)\b", line)
        if statement:
            where[statement.group(1)] = section
    return where


def test_bundled_study_report_follows_the_frozen_protocol_and_is_reproducible(
        tmp_path: Path) -> None:
    """The bundled study requires stability: a statement with consensus that was not shown
    stable is not a recommendation. And two runs with the same seed (but different string
    hashing, as two real processes have) give the same bytes."""
    first = _demo_in_subprocess(tmp_path / "a", "1")
    second = _demo_in_subprocess(tmp_path / "b", "2")
    assert first.replace(str(tmp_path / "a"), "X") == second.replace(str(tmp_path / "b"), "X")
    names = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file() and p.name != "demo.db")
    assert {"report.md", "report.html", "results.csv", "study.xlsx"} <= {str(n) for n in names}
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name

    results = list(csv.DictReader((tmp_path / "a" / "results.csv").open()))
    final: dict[str, dict[str, str]] = {}
    for row in results:  # rows are in round order: the last row of a statement is final
        final[row["statement"].split(".")[0]] = row
    expected: dict[str, str] = {}
    for code, row in final.items():
        reached = row["consensus"] in ("in", "out")
        assert row["verdict"] == (
            ("endorsed" if row["consensus"] == "in" else "rejected")
            if reached and row["stable"] == "true" else
            "not_stable" if reached else
            "stable_disagreement" if row["stable"] == "true" else "no_consensus"), code
        expected[code] = SECTION_OF.get(row["verdict"], "uncertainty")
    assert any(r["verdict"] == "not_stable" for r in final.values())  # the case that matters
    report = (tmp_path / "a" / "report.md").read_text(encoding="utf-8")
    assert _sections(report) == expected
    summary = next(line for line in report.splitlines() if "Under the pre-registered" in line)
    endorsed = sum(1 for v in expected.values() if v == "recommendations")
    assert f"consensus to endorse: {endorsed};" in summary
    uncertainty = report[report.index("{#uncertainty}"):report.index("{#rejected}")]
    for kind in ("Consensus not yet stable when rounds ran out", "Stable disagreement",
                 "No consensus, still moving"):
        count = sum(1 for r in final.values()
                    if r["verdict"] == {"Consensus not yet stable when rounds ran out":
                                        "not_stable", "Stable disagreement":
                                        "stable_disagreement"}.get(kind, "no_consensus"))
        assert f"#### {kind} ({count})" in uncertainty
    transcript = (tmp_path / "a" / "transcript-expert-01.txt").read_text(encoding="utf-8")
    last = transcript[transcript.rindex("summary"):]
    for code, row in final.items():
        if row["round"] == final["S01"]["round"] and row["verdict"] == "not_stable":
            line = next(x for x in last.splitlines()
                        if re.search(rf"\b{code}\b", x) and ":" in x)
            assert "not yet stable when rounds ran out" in line
