"""[consensus] ballots: the statistics and the response rate count the same experts."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.exports import export_tables
from engine.models import RoundResult
from engine.report import build_report
from engine.studyfile import parse_study
from tests.bot.test_study_end import PLATFORM, Panel
from tests.engine.helpers import EXAMPLES, loaded

TINY = (EXAMPLES / "tiny.toml").read_text(encoding="utf-8")


async def _panel(store: Store, clock: ManualClock, ballots: str | None) -> Panel:
    text = TINY if ballots is None else TINY.replace(
        "threshold = 0.75", f'threshold = 0.75\nballots = "{ballots}"')
    spec = await loaded(store, clock.now(), parse_study(text))
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators(frozenset({(PLATFORM, "coord")})),
        invite_link=lambda token: f"token:{token}"))
    panel = Panel(store, clock, conductor)
    await panel.enrol(4)
    return panel


async def _round_with_one_unsubmitted(panel: Panel) -> None:
    await panel.coordinator.command("openround", "7d")
    await panel.dispatcher.run_once()
    for index, chat in enumerate(panel.experts):
        for value in ([5, 5, 5, 5, 1] if index < 3 else [1, 1, 1, 1, 5]):
            await chat.press(str(value))
        if index < 3:
            await chat.press("Submit my ballot")
    await panel.coordinator.command("closeround")
    await panel.coordinator.press("Close the round")


@pytest.mark.parametrize(("ballots", "n", "rate"), [(None, 4, "100"), ("submitted", 3, "75")])
async def test_statistics_and_response_rate_count_the_same_ballots(
        store: Store, clock: ManualClock, ballots: str | None, n: int, rate: str) -> None:
    panel = await _panel(store, clock, ballots)
    await _round_with_one_unsubmitted(panel)
    async with store.transaction() as session:
        counts = {r.n for r in await session.scalars(select(RoundResult))}
        tables = await export_tables(session, "tiny")
        report = (await build_report(session, "tiny", clock.now())).markdown
    assert counts == {n}
    [flow] = list(csv.DictReader(io.StringIO(tables["flow.csv"])))
    assert (flow["submitted"], flow["answered"], flow["response_rate"]) == ("3", "4", rate)
    ratings = list(csv.DictReader(io.StringIO(tables["ratings.csv"])))
    assert len({r["participant"] for r in ratings}) == n
    expected = ("submitted ballots only" if ballots == "submitted"
                else "every answered statement, submitted or not")
    assert f"| Ballots counted | {expected}" in report
