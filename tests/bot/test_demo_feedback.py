"""`delphi demo` exercises reasons, confidence, feedback by group and replies (the example
study turns them on), and its output passes the issue's checks."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from bot.app.cli import main

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "engine" / "examples" / "isotretinoin-rejuvenation.toml"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_demo_output_carries_reasons_confidence_groups_and_threads(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--seed", "3", "--experts", "9"]) == 0
    shown = capsys.readouterr().out
    assert "By stakeholder group:" in shown  # a round-2 card in the excerpt
    transcript = (out / "transcript-expert-01.txt").read_text(encoding="utf-8")
    messages = re.split(r"\n\n(?=\[\d+(?:, edited)?\] )", transcript)
    with_feedback = [m for m in messages if "results (n = " in m]
    assert len(with_feedback) >= 3  # round-2 and round-3 cards, as they arrived
    assert all("By stakeholder group:" in m for m in with_feedback)

    ratings = rows(out / "ratings.csv")
    given = {(r["round"], r["statement"].split(".")[0], r["participant"]): r["rating"]
             for r in ratings}
    assert {r["confidence"] for r in ratings} >= {"low", "medium", "high"}
    bands = {(int(r["round"]), r["statement"].split(".")[0]): (float(r["q1"]), float(r["q3"]))
             for r in rows(out / "results.csv") if r["q1"]}
    comments = rows(out / "comments.csv")
    reasons = [c for c in comments if c["kind"] == "reason"]
    assert reasons
    for reason in reasons:  # every reason belongs to a rating outside last round's IQR
        value = float(given[(reason["round"], reason["statement"], reason["participant"])])
        q1, q3 = bands[(int(reason["round"]) - 1, reason["statement"])]
        assert value < q1 or value > q3, reason
    ids = {c["id"]: c for c in comments}
    replies = [c for c in comments if c["kind"] == "reply"]
    assert replies and all(ids[c["reply_to"]]["kind"] != "reply" for c in replies)
    assert all(c["reply_to"] == "" for c in comments if c["kind"] != "reply")

    sensitivity = tmp_path / "sensitivity.csv"
    assert main(["analyze", str(out / "ratings.csv"), "--study", str(STUDY), "--out",
                 str(tmp_path / "results.csv"), "--sensitivity", str(sensitivity)]) == 0
    definitions = {r["definition"] for r in rows(sensitivity)}
    assert {"confidence_weighted", "without_low_confidence"} <= definitions
    plain = tmp_path / "plain.csv"  # the same ratings without confidence: same results
    plain.write_text("".join(line.rsplit(",", 1)[0] + "\n" for line in (
        out / "ratings.csv").read_text(encoding="utf-8").splitlines()), encoding="utf-8")
    assert main(["analyze", str(plain), "--study", str(STUDY), "--out",
                 str(tmp_path / "plain-results.csv")]) == 0
    assert (tmp_path / "results.csv").read_bytes() == \
        (tmp_path / "plain-results.csv").read_bytes()

    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Replies between experts (anonymous threads):" in report
    assert "↳ reply: " in report and "explained" in report
    assert "Dr Simulated" not in report + (out / "comments.csv").read_text()
