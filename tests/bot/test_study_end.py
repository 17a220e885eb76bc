"""Why the study stopped (stored, stated to experts and in the report), and /revise."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from adapters.memory import MemoryChat, MemoryMessenger
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.models import Round, StatementVersion, Study
from engine.report import build_report
from tests.engine.helpers import loaded

PLATFORM = "memory"


class Panel:
    def __init__(self, store: Store, clock: ManualClock, conductor: Conductor) -> None:
        self.store, self.clock = store, clock
        self.messenger = MemoryMessenger()
        self.conductor = conductor
        self.dispatcher = Dispatcher(store, clock, {PLATFORM: self.messenger})
        self.coordinator = self.messenger.chat(conductor, "coord", "Dr Coordinator")
        self.experts: list[MemoryChat] = []

    async def enrol(self, count: int) -> None:
        await self.coordinator.command("invite", str(count))
        for index, token in enumerate(re.findall(r"token:(\S+)",
                                                 self.coordinator.last.plain_text())):
            chat = self.messenger.chat(self.conductor, f"u{index}", f"Expert {index}")
            await chat.command("start", token)
            await chat.press("I agree to take part")
            self.experts.append(chat)

    async def round(self, plan: list[list[int]]) -> str:
        """Open a round, every expert rates the listed values in order, close it."""
        await self.coordinator.command("openround", "7d")
        await self.dispatcher.run_once()
        for chat, values in zip(self.experts, plan, strict=True):
            for value in values:
                await chat.press(str(value))
            await chat.press("Submit my ballot")
        await self.coordinator.command("closeround")
        await self.coordinator.press("Close the round")
        closed = self.coordinator.last.plain_text()
        await self.dispatcher.run_once()
        return closed

    async def ended(self) -> tuple[str | None, object]:
        async with self.store.transaction() as session:
            row = (await session.execute(select(Study.end_reason, Study.ended_at))).one()
        return row[0], row[1]

    async def report(self) -> str:
        async with self.store.transaction() as session:
            return (await build_report(session, "tiny", self.clock.now())).markdown


@pytest.fixture
async def panel(store: Store, clock: ManualClock) -> Panel:
    spec = await loaded(store, clock.now())
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators(frozenset({(PLATFORM, "coord")})),
        invite_link=lambda token: f"token:{token}"))
    result = Panel(store, clock, conductor)
    await result.enrol(4)
    return result


AGREED = [[5, 5, 5, 5, 1]] * 4  # S01-S04 endorsed, S05 rejected: everything resolved
SPLIT = [[5, 5, 1, 5, 1], [5, 5, 5, 5, 1], [5, 4, 1, 5, 1], [5, 5, 5, 5, 1]]  # S03 split


async def test_every_statement_resolved_is_recorded_and_stated(panel: Panel) -> None:
    closed = await panel.round(AGREED)
    assert "the study is complete (every statement was resolved" in closed
    reason, at = await panel.ended()
    assert reason == "resolved" and at is not None
    summary = panel.experts[0].last.plain_text()
    assert "The study has ended: every statement was resolved under the stopping rule." \
        in summary
    assert "Why the study stopped: every statement was resolved" in await panel.report()


async def test_maximum_rounds_reached_is_recorded_and_stated(panel: Panel) -> None:
    await panel.round(SPLIT)
    assert (await panel.ended())[0] is None
    assert "The study has not ended" in await panel.report()
    await panel.round([[5], [4], [3], [1]])  # only S03 comes back; split and still moving
    assert (await panel.ended())[0] == "max_rounds"
    assert "the pre-registered maximum number of rounds was reached" in \
        panel.experts[0].last.plain_text()
    report = await panel.report()
    assert "Why the study stopped: the pre-registered maximum number of rounds" in report


async def test_coordinator_ends_the_study_between_rounds(panel: Panel) -> None:
    await panel.round(SPLIT)
    await panel.coordinator.command("endstudy")
    assert "Send /endstudy confirm" in panel.coordinator.last.plain_text()
    assert (await panel.ended())[0] is None
    await panel.coordinator.command("endstudy", "confirm")
    assert "The study has ended after round 1" in panel.coordinator.last.plain_text()
    assert (await panel.ended())[0] == "coordinator"
    assert await panel.dispatcher.run_once() == 4
    assert "the coordinator ended it" in panel.experts[0].last.plain_text()
    async with panel.store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Round).where(
            Round.status == "draft")) == 0
    await panel.coordinator.command("openround", "7d")
    assert "no further round" in panel.coordinator.last.plain_text().lower()
    await panel.coordinator.command("endstudy", "confirm")
    assert "already ended" in panel.coordinator.last.plain_text()
    report = await panel.report()
    assert "Why the study stopped: the coordinator ended it (after round 1" in report
    assert "No consensus, still moving" in report  # final labels: S03 was still split


async def test_endstudy_refused_before_any_round_and_while_one_is_open(panel: Panel) -> None:
    await panel.coordinator.command("endstudy", "confirm")
    assert "No round has closed yet" in panel.coordinator.last.plain_text()
    await panel.coordinator.command("openround", "7d")
    await panel.coordinator.command("endstudy", "confirm")
    assert "close it first" in panel.coordinator.last.plain_text()
    assert (await panel.ended())[0] is None


async def test_revise_refuses_unchanged_text_and_keeps_a_reason(panel: Panel) -> None:
    await panel.round(SPLIT)
    text = "Protective clothing is more reliable than sunscreen for preventing sunburn."
    await panel.coordinator.command("revise", "S03  " + text.replace(" ", "   \n", 2))
    assert "already has exactly this wording" in panel.coordinator.last.plain_text()
    async with panel.store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(StatementVersion)) == 5
    await panel.coordinator.command(
        "revise", "S03 Protective clothing is more reliable than sunscreen in strong sun. "
                  "| three experts said 'preventing sunburn' was too broad")
    assert "revised (version 2)" in panel.coordinator.last.plain_text()
    async with panel.store.transaction() as session:
        version = await session.scalar(select(StatementVersion).where(
            StatementVersion.version == 2))
    assert version is not None
    assert version.text == "Protective clothing is more reliable than sunscreen in strong sun."
    assert version.change_note == "three experts said 'preventing sunburn' was too broad"
    await panel.coordinator.command("revise", "S03 Protective clothing is more reliable "
                                              "than sunscreen in strong sun.")
    assert "already has exactly this wording" in panel.coordinator.last.plain_text()
    await panel.round([[5], [5], [5], [5]])
    report = await panel.report()
    change_log = report[report.index("{#changes}"):]
    assert "three experts said 'preventing sunburn' was too broad" in change_log


async def test_status_and_report_show_careless_flags_and_the_methods_checks(
        panel: Panel) -> None:
    await panel.coordinator.command("openround", "7d")
    await panel.dispatcher.run_once()
    for chat, values in zip(panel.experts, [[3] * 5, *SPLIT[1:]], strict=True):
        for value in values:
            await chat.press(str(value))
        await chat.press("Submit my ballot")
    await panel.coordinator.command("status")
    status = panel.coordinator.last.plain_text()
    assert "careless-responding flags; nothing is excluded" in status
    assert "P01: same point everywhere, rated all 5 statements 3" in status
    await panel.coordinator.command("closeround")
    await panel.coordinator.press("Close the round")
    await panel.dispatcher.run_once()
    await panel.round([[5], [4], [3], [1]])
    report = await panel.report()
    methods = report[report.index("{#methods}"):]
    for heading in ("### Individual-level stability", "### Attrition",
                    "### Careless-responding flags"):
        assert heading in methods
    assert "Round 1, P01: straight-lining, rated all 5 statements 3" in methods
    assert "Mann-Whitney U per statement, unadjusted for multiple testing" in methods
    async with panel.store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Round)) == 2
