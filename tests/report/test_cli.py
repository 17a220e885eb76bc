"""`delphi report` and `delphi export` on a migrated SQLite file holding a finished study."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.cli import main
from tests.report.conftest import run_study, study_in_sqlite_file


def test_report_and_export_write_every_file(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = study_in_sqlite_file(tmp_path, run_study)
    capsys.readouterr()
    assert main(["report", "--config", str(config), "--out", str(tmp_path / "report")]) == 0
    assert "report.html" in capsys.readouterr().out
    written = {p.relative_to(tmp_path / "report").as_posix()
               for p in (tmp_path / "report").rglob("*") if p.is_file()}
    stems = ("figure-1-flow", "figure-2-overview", "figure-3-distributions",
             "figure-4-per-round")
    assert written == {"report.html", "report.md", "report.docx", *(
        f"figures/{stem}.{kind}" for stem in stems for kind in ("png", "svg", "pdf"))}
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    for name in written - {"report.html", "report.md", "report.docx"}:
        assert f"]({name})" in markdown  # the Markdown links every figure file
    assert main(["export", "--config", str(config), "--out", str(tmp_path / "export")]) == 0
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [
        "comments.csv", "flow.csv", "panel.csv", "participants.csv", "ratings.csv",
        "results.csv", "statements.csv", "study.xlsx"]
    # Per-pseudonym screening answers only when asked for explicitly.
    assert main(["export", "--config", str(config), "--out", str(tmp_path / "answers"),
                 "--screening-answers"]) == 0
    assert (tmp_path / "answers" / "screening_answers.csv").read_text().startswith(
        "participant,group,status,question,answer\n")
    # A missing templates folder is one sentence, not a traceback.
    capsys.readouterr()
    assert main(["report", "--config", str(config), "--out", str(tmp_path / "r2"),
                 "--templates", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"The report templates folder {tmp_path / 'nowhere'} does not exist.")
