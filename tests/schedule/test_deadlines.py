"""Deadlines close a round once (or ask the coordinators), digests, and a whole study."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from engine.clock import ManualClock
from engine.db import Store
from engine.models import AuditEntry, OutboxMessage, Round, RoundResult, ScheduledTask
from tests.engine.helpers import loaded
from tests.schedule.harness import Study, reminders, study_file, texts_of


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


async def make(store: Store, clock: ManualClock, **schedule: object) -> Study:
    spec = study_file(**schedule)
    await loaded(store, clock.now(), spec)
    return Study(store, clock, spec)


async def count(store: Store, model: type, *where: object) -> int:
    async with store.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model)
                                    .where(*where)) or 0  # type: ignore[arg-type]


async def test_the_deadline_closes_the_round_once(store: Store, clock: ManualClock) -> None:
    study = await make(store, clock, deadline_action="close")
    experts = await study.enrol(3)
    await study.coordinator.command("openround", "7d")
    await study.at(clock.now())
    for chat in experts[:2]:
        await study.rate_all(chat)
    assert "closed" not in await study.at(t(12, 8, 59))
    assert (await study.at(t(12, 9)))["closed"] == 1
    async with store.transaction() as session:
        round_ = await session.scalar(select(Round).where(Round.number == 1))
        assert round_ is not None and round_.status == "closed"
        actors = (await session.scalars(select(AuditEntry.actor).where(
            AuditEntry.action == "closeround"))).all()
    assert actors == ["scheduler"]
    assert await count(store, RoundResult) == 5
    for chat in experts:
        assert sum("Round 1 has closed" in text for text in texts_of(chat)) == 1
    coordinator = texts_of(study.coordinator)
    assert any("closed automatically at its deadline" in text for text in coordinator)
    assert any("Round 1 results" in text for text in coordinator)
    # Again, or from a restarted process: nothing more.
    assert await study.at(t(12, 10)) == {}
    assert await study.new_scheduler().run_due() == {}
    assert await count(store, OutboxMessage, OutboxMessage.kind == "round_summary") == 3


async def test_a_round_closed_by_hand_is_not_closed_again(store: Store,
                                                         clock: ManualClock) -> None:
    study = await make(store, clock, deadline_action="close")
    await study.enrol(2)
    await study.coordinator.command("openround", "7d")
    await study.at(clock.now())
    await study.coordinator.command("closeround")
    await study.coordinator.press("Close the round")
    outcomes = await study.at(t(12, 9))
    assert outcomes["closed"] == 0
    [deadline] = [task for task in await study.tasks() if task.kind == "deadline"]
    assert deadline.outcome == "skipped:closed"
    assert await count(store, RoundResult) == 5


async def test_ask_sends_the_coordinators_a_close_button(store: Store,
                                                        clock: ManualClock) -> None:
    study = await make(store, clock, deadline_action="ask")
    experts = await study.enrol(2)
    await study.coordinator.command("openround", "7d")
    await study.at(clock.now())
    await study.rate_all(experts[0])
    # Nobody was nudged in between (time jumped): the stale nudges are skipped.
    assert (await study.at(t(12, 9))) == {"asked": 1, "skipped:deadline": 2,
                                          "skipped:superseded": 4}
    ask = study.coordinator.last
    assert ask.heading == "Round 1: deadline reached" and "1 of 2 experts" in ask.plain_text()
    reply = await experts[1].press("4")  # too late to rate
    assert reply.alert and reply.toast is not None and "deadline" in reply.toast
    await study.coordinator.press("Close the round", study.coordinator.messages[-1])
    assert "Round 1 closed" in (study.coordinator.toasts[-1])
    await study.at(t(12, 10))
    assert sum("Round 1 has closed" in text for text in texts_of(experts[1])) == 1
    assert await study.at(t(13, 9)) == {}


async def test_a_daily_digest_counts_responses(store: Store, clock: ManualClock) -> None:
    study = await make(store, clock, digest_hour=8)
    experts = await study.enrol(3)
    await study.coordinator.command("openround", "7d")
    await study.at(clock.now())
    await study.rate_all(experts[0])
    await study.rate_some(experts[1], 1)
    while clock.now() < t(12, 9):
        await study.after(timedelta(hours=1))
    digests = [m.card.plain_text() for m in study.coordinator.messages
               if (m.card.heading or "").endswith("daily responses")]
    assert len(digests) == 7  # 08:00 on Tuesday to Monday, all before the 09:00 deadline
    assert "Round 1 (open): 1 of 3 submitted, 2 started" in digests[0]


async def test_a_three_week_study_runs_on_the_clock(store: Store, clock: ManualClock) -> None:
    """Two rounds of a week, automatic closing, nudges: three weeks of a study, no waiting.

    Time jumps from one due task to the next, as APScheduler would wake the bot."""
    study = await make(store, clock, deadline_action="close", round_days=7, digest_hour=9)
    experts = await study.enrol(6)
    diligent, late, silent = experts[:2], experts[2:4], experts[4:]

    async def run_until(end: datetime) -> None:
        while True:
            async with store.transaction() as session:
                due = await session.scalar(select(func.min(ScheduledTask.due_at)).where(
                    ScheduledTask.done_at.is_(None)))
            if due is None or due > end:
                break
            await study.at(due)
        await study.at(end)

    await study.coordinator.command("openround")  # the study file's 7 days
    await study.at(clock.now())
    for chat in diligent:
        await study.rate_all(chat)
    await run_until(t(10, 12))
    for chat in late:  # they answer the 72 h reminder, and disagree: a second round
        await study.rate_all(chat, "2")
    await run_until(t(13, 9))  # round 1 closed on Monday 12th at 09:00
    await study.coordinator.command("openround", "7d")
    await study.at(clock.now())
    for chat in diligent + late:
        await study.rate_all(chat)
    await run_until(t(26, 9))  # three weeks after the start

    async with store.transaction() as session:
        statuses = (await session.scalars(select(Round.status).order_by(Round.number))).all()
    assert list(statuses)[:2] == ["closed", "closed"]
    for chat in experts:
        text = texts_of(chat)
        assert sum("Round 1 has closed" in m for m in text) == 1
        assert sum("Round 2 has closed" in m for m in text) == 1
    assert [len(reminders(c)) for c in diligent] == [0, 0]
    assert [len(reminders(c)) for c in late] == [1, 1]  # round 1's 72 h one only
    assert [len(reminders(c)) for c in silent] == [6, 6]  # three per round
    assert clock.now() == t(26, 9)
