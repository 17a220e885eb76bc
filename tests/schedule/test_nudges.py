"""Nudges: only to incomplete ballots, never in quiet hours, never twice, personalised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.clock import ManualClock
from engine.db import Store
from tests.schedule.harness import Study, reminders, study_file

OPEN = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday; /openround 7d -> Mon 12 Jan 09:00


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


@pytest.fixture
async def study(store: Store, clock: ManualClock) -> Study:
    spec = study_file(deadline_action="ask")
    from tests.engine.helpers import loaded

    await loaded(store, clock.now(), spec)
    return Study(store, clock, spec)


async def open_round(study: Study, deadline: str = "7d") -> None:
    await study.coordinator.command("openround", deadline)
    await study.at(study.clock.now())  # plan, and deliver the first cards


async def test_only_incomplete_ballots_are_nudged_with_what_is_left(study: Study) -> None:
    done, halfway, idle = await study.enrol(3)
    await open_round(study)
    tasks = await study.tasks()
    assert sorted(task.kind for task in tasks) == ["deadline"] + ["nudge"] * 9
    await study.rate_all(done)
    await study.rate_some(halfway, 2)

    outcomes = await study.at(t(9, 9))  # 72 h before the deadline
    assert outcomes == {"sent": 2, "skipped:submitted": 1}
    assert reminders(done) == []
    [nudge] = reminders(halfway)
    assert "3 of 5 statements left" in nudge and "Mon 12 Jan 2026, 09:00 (UTC)" in nudge
    assert "5 of 5 statements left" in reminders(idle)[0]

    await halfway.press("Continue rating", halfway.messages[-1])
    assert halfway.last.heading is not None
    assert halfway.last.heading.startswith("Round 1 · Statement 3 of 5")
    await study.rate_some(halfway, 3)
    await halfway.press("Submit my ballot")

    assert await study.at(t(11, 9)) == {"sent": 1, "skipped:submitted": 2}
    assert [len(reminders(c)) for c in (done, halfway, idle)] == [0, 1, 2]
    # The 2 h nudge falls at 07:00, in quiet hours: it goes at 08:00 instead.
    assert await study.at(t(12, 7)) == {}
    assert await study.at(t(12, 8)) == {"sent": 1, "skipped:submitted": 2}
    assert [len(reminders(c)) for c in (done, halfway, idle)] == [0, 1, 3]
    await study.rate_all(idle)
    assert await study.at(t(12, 8, 30)) == {}  # nothing left to nudge, nothing twice


async def test_no_nudge_ever_lands_in_an_experts_quiet_hours(study: Study) -> None:
    zones = ["UTC", "America/Los_Angeles", "Pacific/Auckland", "Asia/Kolkata"]
    experts = await study.enrol(len(zones))
    for chat, zone in zip(experts, zones, strict=True):
        await chat.command("timezone", zone)
    await open_round(study)
    delivered: dict[str, list[datetime]] = {zone: [] for zone in zones}
    while study.clock.now() < t(12, 9):
        before = [len(reminders(chat)) for chat in experts]
        await study.after(timedelta(minutes=30))
        for chat, zone, count in zip(experts, zones, before, strict=True):
            delivered[zone] += [study.clock.now()] * (len(reminders(chat)) - count)
    for zone, moments in delivered.items():
        hours = [m.astimezone(ZoneInfo(zone)).time() for m in moments]
        assert all(8 <= h.hour < 21 for h in hours), (zone, hours)
    assert len(delivered["UTC"]) == 3  # the 2 h one moved to 08:00
    # Los Angeles: 72 h and 24 h moved to 08:00 local; the 2 h one (23:00 local) skipped.
    assert [m.astimezone(ZoneInfo("America/Los_Angeles")).hour
            for m in delivered["America/Los_Angeles"]] == [8, 8]
    assert len(delivered["Pacific/Auckland"]) == 3 and len(delivered["Asia/Kolkata"]) == 3
    [nz] = [chat for chat, zone in zip(experts, zones, strict=True) if zone.startswith("Pac")]
    assert "(Pacific/Auckland)" in reminders(nz)[0]  # the deadline in their own time zone


async def test_missed_nudges_are_sent_once_at_start_up_and_never_twice(study: Study) -> None:
    experts = await study.enrol(2)
    await open_round(study)
    await study.rate_all(experts[0])
    # The bot is down from Monday until Sunday 10:00: the 72 h and 24 h nudges were missed.
    study.clock.set(t(11, 10))
    restarted = study.new_scheduler()
    outcomes = await restarted.run_due()
    assert outcomes == {"sent": 1, "skipped:superseded": 2, "skipped:submitted": 1}
    await study.dispatcher.run_once()
    assert [len(reminders(c)) for c in experts] == [0, 1]
    # Restarting again (or a replayed job) sends nothing more.
    assert await study.new_scheduler().run_due() == {}
    assert await study.scheduler.run_due() == {}
    await study.at(t(12, 8))
    assert [len(reminders(c)) for c in experts] == [0, 2]


async def test_after_the_deadline_a_missed_nudge_is_useless_and_skipped(study: Study) -> None:
    experts = await study.enrol(2)
    await open_round(study)
    study.clock.set(t(12, 10))  # down until after the deadline
    outcomes = await study.new_scheduler().run_due()
    assert outcomes["asked"] == 1 and outcomes["sent"] == 0
    assert outcomes["skipped:deadline"] == 2  # the latest per expert; the others superseded
    await study.dispatcher.run_once()
    assert [reminders(c) for c in experts] == [[], []]
    assert "deadline reached" in (study.coordinator.last.heading or "")


async def test_the_nudge_command_reminds_now_but_not_in_quiet_hours(study: Study) -> None:
    done, sleeper, awake = await study.enrol(3)
    await sleeper.command("timezone", "America/Los_Angeles")  # 10:00 UTC = 02:00 there
    await open_round(study)
    await study.rate_all(done)
    study.clock.set(t(5, 10))
    await study.coordinator.command("nudge")
    assert "reminder queued for 1 expert" in study.coordinator.last.plain_text()
    assert "1 in their quiet hours" in study.coordinator.last.plain_text()
    await study.dispatcher.run_once()
    assert [len(reminders(c)) for c in (done, sleeper, awake)] == [0, 0, 1]


async def test_extend_moves_the_deadline_and_the_nudges(study: Study) -> None:
    experts = await study.enrol(2)
    await open_round(study)
    await study.rate_all(experts[0])
    await study.coordinator.command("extend", "3d")
    assert "now closes Thu 15 Jan 2026, 09:00 (UTC)" in study.coordinator.last.plain_text()
    await study.at(study.clock.now())
    assert "has moved" in experts[1].last.plain_text()
    assert all("has moved" not in m.card.plain_text() for m in experts[0].messages)
    tasks = await study.tasks()
    assert sum(task.outcome == "skipped:rescheduled" for task in tasks) == 6
    assert [task.due_at for task in tasks if task.kind == "deadline"] == [t(15, 9)]

    assert await study.at(t(9, 9)) == {}  # the old 72 h point: nothing planned there now
    assert await study.at(t(12, 9)) == {"sent": 1, "skipped:submitted": 1}  # new 72 h
    assert await study.at(t(14, 9)) == {"sent": 1, "skipped:submitted": 1}  # new 24 h
    assert await study.at(t(15, 8)) == {"sent": 1, "skipped:submitted": 1}  # new 2 h
    assert await study.at(t(15, 9)) == {"asked": 1}
    assert len(reminders(experts[1])) == 3
    await study.coordinator.command("extend", "2026-01-20 18:00")
    assert "Tue 20 Jan 2026, 18:00 (UTC)" in study.coordinator.last.plain_text()


async def test_extend_and_nudge_refuse_without_an_open_round(study: Study) -> None:
    await study.coordinator.command("extend", "3d")
    assert "No round is open" in study.coordinator.last.plain_text()
    await study.coordinator.command("nudge")
    assert "No round is open" in study.coordinator.last.plain_text()
    await study.coordinator.command("openround", "7d")
    await study.coordinator.command("extend", "")
    assert "Use: /extend" in study.coordinator.last.plain_text()
    expert = study.messenger.chat(study.conductor, "x", "Stranger")
    await expert.command("extend", "3d")
    assert "only for the study coordinators" in expert.last.plain_text()
