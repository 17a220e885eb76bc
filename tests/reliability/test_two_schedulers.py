"""Two `delphi run` processes, each running its scheduler, on one PostgreSQL database: a
round's reminders and then its deadline fall due while both are alive, and both reach
the very same task at the same moment. Each reminder still goes out once, the round
closes once (one close in the audit log, one set of results), every expert gets the
summary once and the coordinator is told once.

How the race is made real rather than likely: both workers learn the due time at once
(the coordinator's double-sent `/extend` reaches one worker each through the round-robin
balancer, and each worker re-plans on the commit), and the test holds a row lock on the
due tasks across the due moment, letting go only once both workers are blocked: on the
claim of the same row, or (deadline work) on the study's lock taken before the claim.
Then one claim wins and the other finds the task done.

Deadlines are whole minutes (`/extend 2026-12-01 18:00`) and reminders whole hours
before them, so the reminder phase waits for the next minute boundary (a deadline one
hour later, `nudge_hours_before = [1]`) and the deadline phase for the one after.
"""

from __future__ import annotations

import ast
import asyncio
import os
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app.cli import main
from engine.db import make_engine
from engine.models import AuditEntry, OutboxMessage, Round, RoundResult, ScheduledTask
from tests.conftest import PG_URL
from tests.engine.helpers import EXAMPLES
from tests.fakes.telegram_api import FakeTelegram, running_telegram_fake
from tests.fakes.telegram_model import ChatMessage, SimulatedUser
from tests.reliability.workers import (
    fresh_database,
    round_one_summaries,
    round_robin,
    start_worker,
    stop_workers,
    until,
    worker_config,
)
from tests.telegram.harness import card_of, command, free_port, press

SECRET = "two-schedulers-secret"
LEAD = timedelta(seconds=15)  # time for both workers to re-plan before the due moment
SCHEDULE = ('\n[schedule]\ndeadline_action = "close"\nnudge_hours_before = [1]\n'
            'quiet_hours = "00:00-00:00"\n')
LOG_LINE = re.compile(r"scheduler: (\{.*\})\s*$")

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL "
                                "(DELPHI_TEST_DATABASE_URL); SQLite allows one worker")


def next_minute(after: datetime) -> datetime:
    """The first whole minute at least LEAD after ``after`` (deadlines are whole minutes)."""
    moment = (after + LEAD).replace(second=0, microsecond=0)
    return moment if moment >= after + LEAD else moment + timedelta(minutes=1)


def when(moment: datetime) -> tuple[str, str]:
    """``/extend`` arguments for ``moment`` in the study's time zone (UTC)."""
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M")


@asynccontextmanager
async def holding(engine: AsyncEngine, kind: str) -> AsyncIterator[int]:
    """Lock the pending tasks of ``kind`` (FOR UPDATE) until the block ends; yields how
    many. A worker that tries to claim one of them waits on the lock meanwhile."""
    async with engine.connect() as connection, connection.begin():
        ids = (await connection.execute(text(
            "SELECT id FROM scheduled_tasks WHERE kind = :kind AND done_at IS NULL "
            "FOR UPDATE"), {"kind": kind})).scalars().all()
        yield len(ids)


async def claims_waiting(watch: AsyncEngine) -> int:
    """How many sessions are blocked in an UPDATE of scheduled_tasks (a claim), or on the
    study's lock (engine.locks), which deadline work takes before its claim."""
    async with watch.connect() as connection:
        return int((await connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND (query ILIKE 'UPDATE scheduled_tasks%' "
            "OR query ILIKE 'SELECT studies.id%FOR NO KEY UPDATE%')")))
            .scalar_one())


async def race_at(moment: datetime, engine: AsyncEngine, watch: AsyncEngine, kind: str) -> None:
    """Hold the due tasks of ``kind`` over ``moment`` until both workers wait to claim the
    same one, then let them go."""
    async with holding(engine, kind) as count:
        assert count > 0, f"no pending {kind} task to race on"
        assert datetime.now(UTC) < moment, "the set-up overran the due moment"
        ahead = (moment - datetime.now(UTC)).total_seconds()
        # Past the moment both wake at once; the 60 s re-sync is the fallback for a
        # worker that missed the re-plan, so the limit leaves room for it.
        await until(lambda: _both_waiting(watch), f"both workers claiming a {kind} task",
                    limit=ahead + 90, every=0.2)


async def _both_waiting(watch: AsyncEngine) -> bool:
    return await claims_waiting(watch) >= 2


async def extend_twice(coordinator: SimulatedUser, served: list[int], moment: datetime) -> None:
    """The coordinator sends the same `/extend` twice (a double-sent command): the
    balancer gives one to each worker, so each re-plans and knows the due time."""
    before = list(served)
    for _ in range(2):
        await command(coordinator, "extend", *when(moment), expect="now closes")
    assert [after - b for after, b in zip(served, before, strict=True)] == [1, 1], served


def outcomes_logged(log: Path) -> list[Counter[str]]:
    """The outcome counts each scheduler run logged (``scheduler: {'closed': 1}``)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        match = LOG_LINE.search(line)
        if match:
            found.append(Counter(ast.literal_eval(match.group(1))))
    return found


def count(user: SimulatedUser, what: str) -> int:
    return sum(what in m.visible_text for m in user.bot_messages)


async def rate(user: SimulatedUser, answered: int, submit: bool) -> None:
    card = await user.wait_for_message(lambda m: card_of(m) == (1, 1, 5), timeout=30)
    for position in range(1, answered + 1):
        await press(user, card, "4")
        card = await user.wait_for_message(
            lambda m, p=position: card_of(m) == (1, p + 1, 5) or "Review" in m.visible_text,
            since=card, timeout=30)
    if submit:
        await press(user, card, "Submit my ballot")


async def enrol(fake: FakeTelegram, coordinator: SimulatedUser, size: int) -> list[SimulatedUser]:
    invites = await command(coordinator, "invite", str(size), expect="single-use")
    tokens = [t.split()[0] for t in invites.visible_text.split("start=")[1:]]
    experts = [fake.create_user(f"Sched{i}", username=f"sched_{i}") for i in range(size)]

    async def join(user: SimulatedUser, token: str) -> None:
        consent = await command(user, "start", token, expect="I agree")
        await press(user, consent, "I agree to take part")

    await asyncio.gather(*(join(u, t) for u, t in zip(experts, tokens, strict=True)))
    return experts


def reminded(message: ChatMessage) -> bool:
    return "A friendly reminder" in message.visible_text


async def test_two_schedulers_nudge_once_and_close_the_round_once(tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text((EXAMPLES / "tiny.toml").read_text() + SCHEDULE)
    env = {**os.environ, "SCHED_TG_TOKEN": "", "SCHED_SECRET": SECRET}
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    async with fresh_database() as url, running_telegram_fake() as fake:
        env["SCHED_TG_TOKEN"] = fake.token
        os.environ["SCHED_TG_TOKEN"], os.environ["SCHED_SECRET"] = fake.token, SECRET
        coordinator = fake.create_user("Cora", username="cora_c")
        ports = [free_port(), free_port()]
        engine = make_engine(url)
        watch = make_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with round_robin(ports) as (proxy, served):
                configs = [worker_config(tmp_path / f"worker{i}.toml", url=url,
                                         fake_base_url=fake.base_url,
                                         webhook_url=f"http://127.0.0.1:{proxy}/telegram",
                                         port=port, coordinator=coordinator.id,
                                         token_env="SCHED_TG_TOKEN", secret_env="SCHED_SECRET")
                           for i, port in enumerate(ports)]
                for argv in (["db", "upgrade"], ["study", "load"]):
                    assert await asyncio.to_thread(main, [*argv, "--config",
                                                          str(configs[0])]) == 0
                files = [log.open("wb") for log in logs]
                workers = [await start_worker(c, env, f)
                           for c, f in zip(configs, files, strict=True)]
                try:
                    experts = await enrol(fake, coordinator, 4)
                    await command(coordinator, "openround", "7d", expect="Round 1 is open")
                    # Two submit, one stops halfway, one never starts.
                    await asyncio.gather(rate(experts[0], 5, True), rate(experts[1], 5, True),
                                         rate(experts[2], 2, False))
                    behind = experts[2:]

                    # Reminders: a deadline one hour after the next whole minute puts each
                    # expert's one reminder (1 h before) on that minute.
                    reminder_at = next_minute(datetime.now(UTC))
                    await extend_twice(coordinator, served, reminder_at + timedelta(hours=1))
                    await race_at(reminder_at, engine, watch, "nudge")
                    for user in behind:
                        await user.wait_for_message(reminded, timeout=30)
                    await asyncio.sleep(1.5)  # let a duplicate, if any, arrive
                    nudge_runs = [outcomes_logged(log) for log in logs]

                    # The deadline: moved to the next whole minute, closes the round there.
                    deadline = next_minute(datetime.now(UTC))
                    await extend_twice(coordinator, served, deadline)
                    await race_at(deadline, engine, watch, "deadline")
                    await round_one_summaries(experts)
                    await coordinator.wait_for_message(
                        lambda m: "closed automatically" in m.visible_text, timeout=30)
                    await asyncio.sleep(1.5)
                finally:
                    await stop_workers(workers, files)

            async with engine.connect() as connection:
                closes = (await connection.execute(select(AuditEntry.actor).where(
                    AuditEntry.action == "closeround"))).scalars().all()
                first = (await connection.execute(select(Round).where(
                    Round.number == 1))).one()
                results = (await connection.execute(select(func.count()).select_from(
                    RoundResult).where(RoundResult.round_id == first.id))).scalar_one()
                kinds = Counter({kind: number for kind, number in (await connection.execute(
                    select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)))})
                tasks = (await connection.execute(select(ScheduledTask.kind,
                                                         ScheduledTask.outcome))).all()
        finally:
            await engine.dispose()
            await watch.dispose()

    # The round closed once, by the scheduler, with one set of results.
    assert closes == ["scheduler"]
    assert first.status == "closed"
    assert results == 5
    assert [outcome for kind, outcome in tasks if kind == "deadline"] == ["closed"]
    # Each expert: the summary once; the two behind one reminder each, the others none.
    for user in experts:
        assert count(user, "Round 1 summary") == 1, user.transcript()
    assert [count(u, "A friendly reminder") for u in experts] == [0, 0, 1, 1]
    # Told about each of the two new deadlines once, though each /extend came twice.
    assert [count(u, "has moved") for u in experts] == [0, 0, 2, 2]
    assert count(coordinator, "closed automatically") == 1, coordinator.transcript()
    assert count(coordinator, "Round 1 results") == 1, coordinator.transcript()
    assert kinds["round_summary"] == 4 and kinds["nudge"] == 2
    assert kinds["deadline_closed"] == 1
    assert Counter(o for k, o in tasks if k == "nudge" and o in ("sent", "skipped:submitted")) \
        == {"sent": 2, "skipped:submitted": 2}

    # Both schedulers really ran the same tasks: both logged a run at the reminder
    # minute, and at the deadline one closed the round while the other found it taken.
    assert all(runs for runs in nudge_runs), nudge_runs
    assert sum(run["sent"] for runs in nudge_runs for run in runs) == 2
    deadline_runs = [outcomes_logged(log)[len(before):]
                     for log, before in zip(logs, nudge_runs, strict=True)]
    # The other waited for the study's lock and then found the task taken or the round
    # closed (or, had it waited in its re-plan, nothing due at all).
    runs = [run for worker_runs in deadline_runs for run in worker_runs]
    assert sum(run["closed"] for run in runs) == 1, deadline_runs
    assert all(set(run) <= {"closed", "taken", "skipped:closed"} for run in runs), deadline_runs
    assert not fake.internal_errors
