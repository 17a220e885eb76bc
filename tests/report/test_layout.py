"""The report as a reader's browser lays it out (headless Chromium over DevTools): nothing
overflows sideways at 390 px (phone) or 1280 px unless it sits in a horizontally
scrollable box, nothing at all in print (A4), and the table of contents does not overlap
on a phone. Run on the finished two-round study and on `delphi demo`'s report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.report import build_report
from tests.conftest import Backend
from tests.report.browser import OVERFLOW, TOC_OVERLAP, browser
from tests.report.conftest import FinishedStudy

A4_TEXT_WIDTH = 703  # 210 mm minus 2 x 12 mm margins, at 96 px per inch
VIEWS = [(390, False), (1280, False), (A4_TEXT_WIDTH, True)]


async def assert_lays_out(chromium: str, page: Path, profile: Path) -> None:
    async with browser(chromium, profile) as tab:
        for width, print_media in VIEWS:
            await tab.open(page, width, print_media)
            found = await tab.check(OVERFLOW, print="true" if print_media else "false")
            where = f"{page.name} at {width} px{' (print)' if print_media else ''}"
            assert found["overflowing"] == [], f"{where}: {found}"
            assert found["page"] <= width, where
            toc = await tab.check(TOC_OVERLAP)
            assert toc["entries"] >= 10 and toc["overlaps"] == [], f"{where}: {toc}"
            assert toc["right"] <= toc["width"] + 1, where


def assert_reads_well(html: str) -> None:
    text = re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]*"', "", html))
    assert "`" not in text  # no literal Markdown in the HTML
    assert "round(s)" not in text and "comment(s)" not in text


async def test_finished_study_report_fits_phone_desktop_and_print(
    finished: FinishedStudy, backend: Backend, chromium: str, tmp_path: Path
) -> None:
    if backend.name != "sqlite":
        pytest.skip("the layout does not depend on the database; SQLite run only")
    async with finished.store.transaction() as session:
        report = await build_report(session, finished.study_id, finished.clock.now())
    page = tmp_path / "report.html"
    page.write_text(report.html, encoding="utf-8")
    assert_reads_well(report.html)
    assert "2 closed rounds" in report.html
    await assert_lays_out(chromium, page, tmp_path / "profile")


async def test_demo_report_fits_phone_desktop_and_print(
    demo_output: Path, chromium: str, tmp_path: Path
) -> None:
    html = (demo_output / "report.html").read_text(encoding="utf-8")
    assert_reads_well(html)
    await assert_lays_out(chromium, demo_output / "report.html", tmp_path / "profile")


async def test_the_check_sees_an_overflowing_table(chromium: str, tmp_path: Path) -> None:
    """The layout check itself: a wide table outside a scroll box is reported on a phone,
    the same table inside one is not, and in print even the scroll box does not help."""
    wide = "<table><tr>" + "<td>wide-cell-content</td>" * 30 + "</tr></table>"
    bare, boxed = tmp_path / "bare.html", tmp_path / "boxed.html"
    head = '<!DOCTYPE html><meta name="viewport" content="width=device-width">'
    bare.write_text(f"{head}<body>{wide}</body>")
    boxed.write_text(f'{head}<body><div style="overflow-x:auto">{wide}</div></body>')
    async with browser(chromium, tmp_path / "profile") as tab:
        await tab.open(bare, 390)
        assert (await tab.check(OVERFLOW, print="false"))["count"] > 0
        await tab.open(boxed, 390)
        assert (await tab.check(OVERFLOW, print="false"))["count"] == 0
        await tab.open(boxed, 390, print_media=True)
        assert (await tab.check(OVERFLOW, print="true"))["count"] > 0
