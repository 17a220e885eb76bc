"""Exports are safe to open in a spreadsheet (CSV injection, OWASP) and still read back.

A study whose comments, revised and added statements, domain and drop reason all begin
with a formula character is run through the conductor; ``/export`` and ``delphi export``
must neutralise every such cell with a leading apostrophe, leave numbers (negative ones
included) as numbers, write no formula into ``study.xlsx``, and ``delphi analyze`` must
reproduce ``results.csv`` from ``ratings.csv`` byte for byte.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from adapters.memory import MemoryChat, MemoryMessenger
from bot.app.analyze_cli import main as analyze_main
from bot.app.cli import main as cli_main
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.csvsafe import csv_text, guard, unguard
from engine.db import Store
from engine.stats import read_ratings_csv, write_results_csv
from tests.engine.helpers import EXAMPLES, loaded
from tests.report.conftest import study_in_sqlite_file

COORDINATOR = "coord-1"
FORMULA = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_COMMENTS = ['=HYPERLINK("http://evil.example","click")',
                    "@SUM(1+1)*cmd|' /C calc'!A0",
                    "-2+3+cmd|' /C calc'!A0"]
REVISED = "+1 revised: sunscreen every 2 hours"
DOMAIN = "=2+5+cmd /C notepad"
ADDED = "-Hats are useful for outdoor workers."
REASON = "@duplicate of S01"


def test_guard_neutralises_formulas_and_leaves_numbers() -> None:
    assert guard("=1+1") == "'=1+1"
    assert guard("@SUM(A1)") == "'@SUM(A1)"
    assert guard("+cmd") == "'+cmd"
    assert guard("-2+3") == "'-2+3"
    assert guard("\tx") == "'\tx" and guard("\rx") == "'\rx"
    assert guard("'=x") == "''=x"  # already an apostrophe: one more, so it reads back
    for number in ("-1", "-0.25", "+3", "1e-05", "-1.5E+10", "7", ""):
        assert guard(number) == number
    for plain in ("S01", "'quoted'", "hello = world", "x-1"):
        assert guard(plain) == plain


@given(st.text(max_size=12))
def test_guard_is_reversible_and_never_starts_a_formula(text: str) -> None:
    guarded = guard(text)
    assert unguard(guarded) == text
    assert not guarded.startswith(FORMULA) or re.fullmatch(r"[+-][0-9.eE+-]+", guarded)


def test_a_guarded_ratings_file_reads_back_exactly(tmp_path: Path) -> None:
    rows = [(1, "=S1", "-P1", 3, "+doctors"), (1, "=S1", "@P2", None, "'=nurses"),
            (1, "S2", "-P1", 1, "+doctors"), (1, "S2", "@P2", 5, "'=nurses")]
    path = tmp_path / "ratings.csv"
    path.write_text(csv_text(("round", "statement", "participant", "rating", "group"), rows))
    assert "'=S1" in path.read_text() and "''=nurses" in path.read_text()
    frame = read_ratings_csv(path, 5)
    assert list(frame["statement"]) == ["=S1", "=S1", "S2", "S2"]
    assert list(frame["participant"]) == ["-P1", "@P2", "-P1", "@P2"]
    assert list(frame["group"]) == ["+doctors", "'=nurses", "+doctors", "'=nurses"]
    assert frame["rating"].tolist()[0] == 3 and pd.isna(frame["rating"].tolist()[1])


def test_results_keep_negative_numbers_as_numbers(tmp_path: Path) -> None:
    table = pd.DataFrame({"statement": ["=S1", "S2"], "change": [-0.25, -3.0],
                          "note": ["-worse", "ok"]})
    write_results_csv(table, tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == ("statement,change,note\n'=S1,-0.25,'-worse\n"
                                                "S2,-3,ok\n")


async def _rate(chat: MemoryChat, values: list[int], comment: str | None) -> None:
    for position, value in enumerate(values):
        if position == 0 and comment is not None:
            await chat.press("Comment")
            await chat.say(comment)
        reply = await chat.press(str(value))
        assert reply.toast is not None and reply.toast.startswith("Recorded"), reply
    await chat.press("Submit my ballot")


async def _hostile_study(store: Store, clock: ManualClock) -> MemoryChat:
    """Round 1 with formula comments; round 2 drafted with formula texts, rated, closed."""
    spec = await loaded(store, clock.now())
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators(frozenset({("memory",
        COORDINATOR)})),
        invite_link=lambda token: f"token:{token}"))
    messenger = MemoryMessenger()
    dispatcher = Dispatcher(store, clock, {"memory": messenger})
    coordinator = messenger.chat(conductor, COORDINATOR, "Coordinator")
    await coordinator.command("invite", "3")
    tokens = re.findall(r"token:(\S+)", coordinator.last.plain_text())
    experts = []
    for index, token in enumerate(tokens):
        chat = messenger.chat(conductor, f"user-{index}", f"Expert {index}")
        await chat.command("start", token)
        await chat.press("I agree to take part")
        experts.append(chat)
    await coordinator.command("openround", "7d")
    await dispatcher.run_once()
    for chat, values, comment in zip(experts, ([5, 4, 2, 4, 5], [4, 5, 2, 4, 5],
                                               [5, 4, 1, 5, 4]), HOSTILE_COMMENTS, strict=True):
        clock.advance(timedelta(minutes=5))
        await _rate(chat, values, comment)
    clock.advance(timedelta(days=1))
    await coordinator.command("closeround")
    await coordinator.press("Close the round")
    await dispatcher.run_once()
    await coordinator.command("revise", f"S03 {REVISED}")
    assert "revised" in coordinator.last.plain_text()
    await coordinator.command("add", f"+{DOMAIN} | {ADDED}")
    assert "Added S06" in coordinator.last.plain_text()
    await coordinator.command("add", "+Sun | A duplicate to drop.")
    await coordinator.command("drop", f"S07 {REASON}")
    assert "dropped" in coordinator.last.plain_text()
    await coordinator.command("openround", "7d")
    await dispatcher.run_once()
    for chat, values in zip(experts, ([4, 2], [5, 4], [4, 3]), strict=True):
        clock.advance(timedelta(minutes=5))
        await _rate(chat, values, None)
    clock.advance(timedelta(days=1))
    await coordinator.command("closeround")
    await coordinator.press("Close the round")
    await dispatcher.run_once()
    await coordinator.command("export")
    return coordinator


def _cells(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


def _check_exports(files: dict[str, bytes], tmp_path: Path) -> None:
    csvs = {name: _cells(content) for name, content in files.items()
            if name.endswith(".csv")}
    assert {"ratings.csv", "results.csv", "statements.csv", "comments.csv",
            "participants.csv", "flow.csv"} <= set(csvs)
    for name, rows in csvs.items():
        for row in rows:
            for cell in row:
                assert not cell.startswith(FORMULA) or re.fullmatch(r"-?[0-9.eE+-]+", cell), \
                    f"{name}: {cell!r} would run as a formula"
    comments = [row[4] for row in csvs["comments.csv"][1:]]
    assert sorted(comments) == sorted("'" + c for c in HOSTILE_COMMENTS)
    statements = {(row[0], row[1]): row for row in csvs["statements.csv"][1:]}
    assert statements[("S03", "2")][4] == "'" + REVISED
    assert statements[("S06", "1")][3:5] == ["'" + DOMAIN, "'" + ADDED]
    assert statements[("S07", "1")][9] == "'" + REASON
    (tmp_path / "ratings.csv").write_bytes(files["ratings.csv"])
    again = tmp_path / "again.csv"
    assert analyze_main([str(tmp_path / "ratings.csv"), "--study",
                         str(EXAMPLES / "tiny.toml"), "--methods", "--out", str(again)]) == 0
    assert again.read_bytes() == files["results.csv"]
    ratings = read_ratings_csv(tmp_path / "ratings.csv", 5)
    assert sorted(ratings["rating"].dropna().unique().tolist()) == [1, 2, 3, 4, 5]
    book = load_workbook(io.BytesIO(files["study.xlsx"]))
    texts = []
    for sheet in book.worksheets:
        for cells in sheet.iter_rows():
            for cell in cells:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str):
                    texts.append(cell.value)
                    if cell.value.startswith(FORMULA):
                        assert cell.quotePrefix, cell.value
    assert set(HOSTILE_COMMENTS) | {REVISED, DOMAIN, ADDED, REASON} <= set(texts)
    ratings_sheet = list(book["ratings"].iter_rows(values_only=True))
    assert all(isinstance(row[3], int) or row[3] is None for row in ratings_sheet[1:])


async def test_export_command_neutralises_every_formula_cell(
        store: Store, clock: ManualClock, tmp_path: Path) -> None:
    coordinator = await _hostile_study(store, clock)
    files = {d.filename: d.content for d in coordinator.documents}
    assert "study.xlsx" in files
    _check_exports(files, tmp_path)


def test_delphi_export_neutralises_every_formula_cell(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = study_in_sqlite_file(tmp_path, _hostile_study)
    assert cli_main(["export", "--config", str(config), "--out", str(tmp_path / "out")]) == 0
    files = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    _check_exports(files, tmp_path)
