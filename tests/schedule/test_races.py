"""Schedulers that meet: two processes firing the same tasks at the same moment, and a
coordinator sending /extend twice. Every reminder, question and digest goes out once;
none is lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

from engine.clock import ManualClock
from engine.db import Store
from tests.conftest import Backend
from tests.engine.helpers import loaded
from tests.schedule.harness import Study, reminders, study_file

OPEN = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday; /openround 7d -> Mon 12 Jan 09:00


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


async def study_on(store: Store, clock: ManualClock, **schedule: object) -> Study:
    clock.set(OPEN)
    spec = study_file(**schedule)
    await loaded(store, clock.now(), spec)
    return Study(store, clock, spec)


async def test_extending_twice_to_the_same_deadline_keeps_the_reminders(
        store: Store, clock: ManualClock) -> None:
    """A double-sent `/extend 2026-01-20 18:00` must not cancel the reminders the first
    one planned (it did: the second retired them and their keys blocked re-planning)."""
    study = await study_on(store, clock, deadline_action="ask", nudge_hours_before=[24],
                           quiet_hours="00:00-00:00")
    [expert] = await study.enrol(1)
    await study.coordinator.command("openround", "7d")
    await study.at(clock.now())
    for _ in range(2):
        await study.coordinator.command("extend", "2026-01-20 18:00")
        assert "now closes Tue 20 Jan 2026, 18:00" in study.coordinator.last.plain_text()
    await study.at(clock.now())
    assert sum("has moved" in m.card.plain_text() for m in expert.messages) == 1
    assert await study.at(t(19, 18)) == {"sent": 1}
    assert len(reminders(expert)) == 1


async def test_extending_away_and_back_brings_the_reminders_back(
        store: Store, clock: ManualClock) -> None:
    study = await study_on(store, clock, deadline_action="ask", nudge_hours_before=[24],
                           quiet_hours="00:00-00:00")
    [expert] = await study.enrol(1)
    await study.coordinator.command("openround", "2026-01-20 18:00")
    await study.at(clock.now())
    await study.coordinator.command("extend", "2026-01-25 18:00")
    await study.at(clock.now())
    await study.coordinator.command("extend", "2026-01-20 18:00")
    await study.at(clock.now())
    assert await study.at(t(19, 18)) == {"sent": 1}  # the first plan's reminder, revived
    assert await study.at(t(20, 18)) == {"asked": 1}  # nothing else: the 25th's plan is gone
    assert len(reminders(expert)) == 1


async def test_two_schedulers_ask_nudge_and_digest_once(backend: Backend, store: Store,
                                                         clock: ManualClock) -> None:
    """Two processes (two engines on one database) run everything due at the same moments:
    the claim in each task's own transaction lets exactly one of them act."""
    study = await study_on(store, clock, deadline_action="ask", nudge_hours_before=[72, 24],
                           quiet_hours="00:00-00:00", digest_hour=9)
    experts = await study.enrol(4)
    await study.coordinator.command("openround", "7d")
    await study.at(clock.now())
    await study.rate_all(experts[0])
    other = backend.store()
    try:
        second = study.new_scheduler(other)
        outcomes: Counter[str] = Counter()
        for moment in (t(6, 9), t(9, 9), t(11, 9), t(12, 9)):
            clock.set(moment)
            for result in await asyncio.gather(study.scheduler.run_due(),
                                               second.run_due()):
                outcomes.update(result)
            await study.dispatcher.run_once()
    finally:
        await other.dispose()
    # 3 incomplete experts x 2 reminders, one question, and each digest row once.
    assert outcomes["sent"] == 6
    assert outcomes["asked"] == 1
    assert [len(reminders(chat)) for chat in experts] == [0, 2, 2, 2]
    assert await study.outbox_count("nudge") == 6
    assert await study.outbox_count("deadline_ask") == 1
    digest_rows = [task for task in await study.tasks() if task.kind == "digest"]
    assert outcomes["digest"] == await study.outbox_count("digest") >= 1
    assert outcomes["digest"] == sum(task.outcome == "sent" for task in digest_rows)
    texts = [m.card.plain_text() for m in study.coordinator.messages]
    assert sum("deadline reached" in text for text in texts) == 1
