"""report.docx read back with python-docx as an author would paste from it: Table 2 with
every final statement and the same numbers as results.csv, Table 1, the three checklists
by item id, the figures with captions; the figure files with vector twins; Table 1's
declarations against the per-pseudonym answers of `delphi demo`."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from docx import Document
from docx.table import Table as WordTable

from engine.db import Store, make_engine
from engine.exports import export_files
from engine.report import build_report
from engine.report.checklist import GUIDELINES
from engine.stats.interval import wilson_interval
from engine.studyfile import load_study_file
from tests.report.conftest import FINAL, REVISED_S03, FinishedStudy


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def word_tables(content: bytes) -> list[list[list[str]]]:
    document = Document(io.BytesIO(content))
    return [[[cell.text for cell in row.cells] for row in table.rows]
            for table in document.tables if isinstance(table, WordTable)]


def table_with(tables: list[list[list[str]]], header: str) -> list[list[str]]:
    return next(t for t in tables if header in t[0])


NUMBER = r"(\d+(?:\.\d+)?)"


async def test_docx_table_2_matches_results_csv(finished: FinishedStudy) -> None:
    async with finished.store.transaction() as session:
        report = await build_report(session, finished.study_id, finished.clock.now())
        again = await build_report(session, finished.study_id, finished.clock.now())
        files = await export_files(session, finished.study_id)
    assert report.docx == again.docx  # same data, same bytes
    tables = word_tables(report.docx)
    table = table_with(tables, "Final text")
    header, body = table[0], table[1:]
    assert [row[0] for row in body] == sorted(FINAL)
    texts = {row[0]: row[1] for row in body}
    assert texts["S03"] == REVISED_S03  # the final wording, not the first
    results = {(r["round"], r["statement"]): r for r in _rows(files["results.csv"])}
    checked = 0
    for row in body:
        for column, title in enumerate(header):
            found = re.fullmatch(r"R(\d+) n valid / unable", title)
            if not found or row[column] == "–":
                continue
            number = found.group(1)
            counts = re.fullmatch(r"(\d+) / (\d+)( \(v(\d+)\))?", row[column])
            assert counts, row[column]
            version = counts.group(4)
            key = row[0] + (f".v{version}" if version and version != "1" else "")
            expected = results[(number, key)]
            assert (counts.group(1), counts.group(2)) == (expected["n"], expected["n_unable"])
            agree = re.fullmatch(NUMBER + r" % \[" + NUMBER + "–" + NUMBER + r"\]",
                                 row[column + 1])
            assert agree, row[column + 1]
            assert float(agree.group(1)) == round(float(expected["pct_agree"]), 1)
            n = int(expected["n"])
            low, high = wilson_interval(round(float(expected["pct_agree"]) * n / 100), n) \
                or (0.0, 0.0)
            assert (float(agree.group(2)), float(agree.group(3))) == (
                round(100 * low), round(100 * high))
            median = re.fullmatch(NUMBER + r" \[" + NUMBER + "-" + NUMBER + r"\]",
                                  row[column + 2])
            assert median, row[column + 2]
            assert [float(v) for v in median.groups()] == [
                round(float(expected[k]), 2) for k in ("median", "q1", "q3")]
            checked += 1
    assert checked == len(results) == 7
    verdicts = {row[0]: row[3] for row in body}
    assert verdicts["S04"] == "consensus to reject" and verdicts["S07"] == "dropped"
    reached = {row[0]: row[4] for row in body}
    assert reached["S03"] == "2" and reached["S01"] == "1" and reached["S06"] == "–"


async def test_docx_carries_table_1_checklists_and_figures(finished: FinishedStudy) -> None:
    async with finished.store.transaction() as session:
        report = await build_report(session, finished.study_id, finished.clock.now())
    tables = word_tables(report.docx)
    recruitment = {row[0]: row[1] for row in table_with(tables, "Step")[1:]}
    assert recruitment["Invited (invitation links created)"] == "5"
    assert recruitment["Eligible panel"] == "5"
    for name, items in GUIDELINES.items():
        listed = [row[0] for row in tables[[t[0][:2] for t in tables].index(
            ["Item", "Content (paraphrased)"]) + list(GUIDELINES).index(name)][1:]]
        assert listed == [item.id for item in items], name
    assert len(GUIDELINES["ACCORD"]) == 35
    document = Document(io.BytesIO(report.docx))
    assert len(document.inline_shapes) == 4
    captions = [p.text for p in document.paragraphs if p.style is not None
                and p.style.name == "Caption"]
    assert [c.split(".")[0] for c in captions if c.startswith("Figure")] == [
        "Figure 1", "Figure 2", "Figure 3", "Figure 4"]
    headings = [p.text for p in document.paragraphs if p.style is not None
                and p.style.name.startswith("Heading")]
    assert "The panel (Table 1)" in headings and "Reporting checklists" in headings
    for name in ("figure-1-flow", "figure-2-overview", "figure-3-distributions",
                 "figure-4-per-round"):
        assert report.figures[f"{name}.png"].startswith(b"\x89PNG")
        assert b"<svg" in report.figures[f"{name}.svg"][:400]
        assert report.figures[f"{name}.pdf"].startswith(b"%PDF")


def test_demo_declarations_tabulated_and_counted(demo_output: Path) -> None:
    """Every screening question of the demo study appears in Table 1 (HTML and Word) with
    a count for every answer, and panel.csv equals the per-pseudonym answers counted."""
    spec = load_study_file(Path(__file__).resolve().parents[2] / "engine" / "examples"
                           / "isotretinoin-rejuvenation.toml")

    async def exports() -> dict[str, bytes]:
        store = Store(make_engine(f"sqlite:///{demo_output / 'demo.db'}"))
        try:
            async with store.transaction() as session:
                return await export_files(session, spec.study.id, screening_answers=True)
        finally:
            await store.dispose()

    files = asyncio.run(exports())
    panel = _rows(files["panel.csv"])
    answers = _rows(files["screening_answers.csv"])
    assert (demo_output / "panel.csv").read_bytes() == files["panel.csv"]
    assert not (demo_output / "screening_answers.csv").exists()  # only on request
    eligible = {r["participant"] for r in answers} - {
        r["participant"] for r in answers for q in spec.screening
        if r["question"] == q.id and not q.assigns_group and r["answer"] not in q.eligible}
    counted = Counter((r["question"], r["answer"]) for r in answers
                      if r["participant"] in eligible)
    for q in spec.screening:
        for answer in q.options:
            row = next(r for r in panel if r["population"] == "eligible"
                       and r["group"] == "all" and r["question"] == q.id
                       and r["answer"] == answer)
            assert int(row["count"]) == counted[(q.id, answer)], (q.id, answer)
    tables = word_tables((demo_output / "report.docx").read_bytes())
    declared = table_with(tables, "Answer")
    listed = {(row[0], row[1]) for row in declared[1:]}
    current = ""
    pairs = set()
    for row in declared[1:]:
        current = row[0] or current
        pairs.add((current, row[1]))
        assert re.fullmatch(r"\d+ \(\d+ %\)", row[2]), row
    assert pairs == {(q.id, a) for q in spec.screening for a in q.options}, listed
    html = (demo_output / "report.html").read_text(encoding="utf-8")
    for q in spec.screening:
        assert f"<td>{q.id}</td>" in html
    assert "Conflicts of interest:" in html


def test_docx_opens_in_libreoffice(demo_output: Path, tmp_path: Path) -> None:
    office = shutil.which("soffice") or shutil.which("libreoffice")
    if office is None:
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-writer-nogui)")
    result = subprocess.run(
        [office, "--headless", f"-env:UserInstallation=file://{tmp_path / 'profile'}",
         "--convert-to", "pdf", "--outdir", str(tmp_path), str(demo_output / "report.docx")],
        capture_output=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


def test_demo_docx_lists_every_final_statement(demo_output: Path) -> None:
    statements = list(csv.DictReader((demo_output / "statements.csv").open(encoding="utf-8")))
    final = {row["statement"]: row["text"] for row in statements}  # versions in order
    table = table_with(word_tables((demo_output / "report.docx").read_bytes()), "Final text")
    assert {row[0]: row[1] for row in table[1:]} == final
    verdicts = {row[0]: row[3] for row in table[1:]}
    results = list(csv.DictReader((demo_output / "results.csv").open(encoding="utf-8")))
    last = {row["statement"].split(".")[0]: row for row in results}
    from engine.verdict import Verdict

    for code, row in last.items():
        assert verdicts[code] == Verdict(row["verdict"]).label, code
