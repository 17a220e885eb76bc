"""The scheduler: deadlines, nudges and digests, done once each, at the right time.

``Scheduler.run_due(now)`` does all the work due at ``now`` and is the only place that
acts; tests call it with a ManualClock's times and run a three-week study in moments.
In ``delphi run`` an APScheduler 3.x ``AsyncIOScheduler`` (memory job store, not PTB's
JobQueue) only decides *when* to call it: one date job per distinct due time, with a
stable id, rebuilt from ``scheduled_tasks`` at start-up and after every run, plus a
periodic re-sync. Nothing is lost with the jobs: the rows are the truth.

Every task is claimed (``UPDATE .. SET done_at WHERE done_at IS NULL``) in the same
transaction that queues its outbox messages or closes the round, so two processes, a
restart or a replayed job can never nudge twice or close twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Card
from bot.delivery import outbox
from bot.dialogue import closing, texts
from bot.dialogue.context import StudyContext
from bot.dialogue.coordination import Coordination
from engine import ballots, panel, rounds, schedule
from engine.errors import DelphiError
from engine.locks import hold_study
from engine.models import ScheduledTask
from engine.panel import seconds_per_statement
from engine.round_reading import RoundReading

log = logging.getLogger(__name__)

ACTOR = "scheduler"
RESYNC_SECONDS = 60.0
MISFIRE_GRACE_SECONDS = 6 * 3600
MIN_DELAY_SECONDS = 1.0
STOP_GRACE_SECONDS = 5.0
JOB_PREFIX = "delphi:due:"


class Scheduler:
    def __init__(self, context: StudyContext, coordination: Coordination, *,
                 on_outbox: Callable[[], None] = lambda: None,
                 resync_seconds: float = RESYNC_SECONDS) -> None:
        """``coordination`` closes a round at its deadline, the same close as the
        coordinator's button; ``on_outbox`` is called after a run queued messages."""
        self.context = context
        self.coordination = coordination
        self.closer = coordination.closer
        self.store = context.store
        self.clock = context.clock
        self.spec = context.spec
        self.study_id = context.study_id
        # Coordinators are addressed by platform and user id (a Telegram user id is their
        # private chat id; Slack's chat.postMessage takes a user id for the DM).
        self.coordinators = sorted(context.coordinators.ids)
        self.quiet = schedule.QuietHours.parse(self.spec.schedule.quiet_hours)
        self.on_outbox = on_outbox
        self.resync_seconds = resync_seconds
        self._aps: Any = None
        self._lock = asyncio.Lock()
        self._jobs: set[asyncio.Task[Any]] = set()

    # --- the work -----------------------------------------------------------------------

    async def sync(self, now: datetime | None = None) -> None:
        """Plan the open round's deadline, nudge and digest rows (idempotent)."""
        now = now or self.clock.now()
        async with self.store.transaction() as session:
            # Behind the study's lock, like /openround and /extend: their rows and these
            # are then planned one after the other, never interleaved (a deadlock).
            await hold_study(session, self.study_id)
            current = await rounds.open_round_or_none(session, self.study_id)
            if current is not None:
                await schedule.plan_round(session, self.spec, current, now)

    async def run_due(self, now: datetime | None = None) -> Counter[str]:
        """Do everything due at ``now``; return how many tasks ended in which outcome."""
        now = now or self.clock.now()
        await self.sync(now)
        async with self.store.transaction() as session:
            due = await schedule.due_tasks(session, self.study_id, now)
        outcomes: Counter[str] = Counter()
        nudges, stale = schedule.superseded(t for t in due if t.kind == "nudge")
        work = ([(self._deadline, t) for t in due if t.kind == "deadline"]
                + [(self._skip_superseded, t) for t in stale]
                + [(self._nudge, t) for t in sorted(nudges, key=lambda t: (t.due_at, t.id))]
                + [(self._digest, t) for t in due if t.kind == "digest"])
        queued = False
        for handler, task in work:
            try:
                reading = await self._read_before(task)
                async with self.store.transaction() as session:
                    if reading is not None:
                        session.info[closing.READ_BEFORE] = reading
                    outcomes[await handler(session, task, now)] += 1
                    queued |= bool(session.info.pop(outbox.DIRTY, False))
            except DelphiError as refusal:  # e.g. the round closed meanwhile
                log.info("scheduled task %s not done: %s", task.key, refusal)
                outcomes["refused"] += 1
        if queued:
            self.on_outbox()
        return outcomes

    async def _read_before(self, task: ScheduledTask) -> RoundReading | None:
        """What closing the round at its deadline will need, read before the transaction
        so that experts' presses do not wait for it (bot.dialogue.closing)."""
        if task.kind == "deadline" and self.spec.schedule.deadline_action == "close":
            return await self.closer.read()
        return None

    async def _skip_superseded(self, session: AsyncSession, task: ScheduledTask,
                               now: datetime) -> str:
        await schedule.claim(session, task.id, now, "skipped:superseded")
        return "skipped:superseded"

    async def _to_coordinators(self, session: AsyncSession, kind: str, cards: list[Card],
                               key: str, now: datetime) -> None:
        for platform, address in self.coordinators:
            await outbox.enqueue(session, self.study_id, kind, cards,
                                 f"{key}:{platform}:{address}", now,
                                 platform=platform, address=address)

    async def _deadline(self, session: AsyncSession, task: ScheduledTask,
                        now: datetime) -> str:
        await hold_study(session, self.study_id)  # a coordinator may be closing or extending
        current = await rounds.open_round_or_none(session, self.study_id)
        if current is None or current.id != task.round_id:
            await schedule.claim(session, task.id, now, "skipped:closed")
            return "skipped:closed"
        if current.deadline is not None and current.deadline > now:  # moved meanwhile
            await schedule.postpone(session, task.id, current.deadline)
            return "postponed"
        action = self.spec.schedule.deadline_action
        outcome = "closed" if action == "close" else "asked"
        if not await schedule.claim(session, task.id, now, outcome):
            return "taken"
        if action == "close":
            closed = await self.closer.close(session, now, ACTOR,
                                             session.info.pop(closing.READ_BEFORE, None))
            results = self.coordination.results_card(
                closed.round, closed.outcomes, final=True, next_round=closed.next_round)
            await self._to_coordinators(session, "deadline_closed",
                                        [texts.closed_at_deadline(closed.round), results],
                                        f"deadline-closed:{self.study_id}:{closed.round}", now)
        else:
            counts = {c.number: c for c in await schedule.response_counts(session,
                                                                          self.study_id)}
            mine = counts[current.number]
            await self._to_coordinators(
                session, "deadline_ask",
                [texts.deadline_ask(current.number, mine.submitted, mine.panel)],
                f"deadline-ask:{self.study_id}:{current.number}:{int(task.due_at.timestamp())}",
                now)
        return outcome

    async def _nudge(self, session: AsyncSession, task: ScheduledTask, now: datetime) -> str:
        """Nudge one expert if it is still useful: round open, deadline ahead, ballot not
        submitted, expert reachable and not in their quiet hours (else postpone or skip)."""
        current = await rounds.open_round_or_none(session, self.study_id)
        participant = await panel.participant(session, task.participant_id)
        reason: str | None = None
        if current is None or current.id != task.round_id:
            reason = "skipped:closed"
        elif current.deadline is None or now >= current.deadline:
            reason = "skipped:deadline"
        elif participant is None or participant.status != "active":
            reason = "skipped:inactive"
        elif participant.unreachable_since is not None:
            reason = "skipped:unreachable"
        if reason is not None or participant is None or current is None:
            await schedule.claim(session, task.id, now, reason or "skipped")
            return reason or "skipped"
        progress = await ballots.progress(session, participant.id)
        if progress.submitted_at is not None:
            await schedule.claim(session, task.id, now, "skipped:submitted")
            return "skipped:submitted"
        zone = self.context.zone(participant.timezone)
        quiet_until = self.quiet.end_of_quiet(now, zone)
        if quiet_until is not None:
            assert current.deadline is not None
            if quiet_until < current.deadline:
                await schedule.postpone(session, task.id, quiet_until)
                return "postponed"
            await schedule.claim(session, task.id, now, "skipped:quiet")
            return "skipped:quiet"
        if not await schedule.claim(session, task.id, now, "sent"):
            return "taken"
        pace = await seconds_per_statement(session, participant.id)
        await outbox.enqueue(session, self.study_id, "nudge", [texts.nudge(progress, zone, pace)],
                             f"nudge:{self.study_id}:{task.id}", now,
                             participant_id=participant.id)
        return "sent"

    async def _digest(self, session: AsyncSession, task: ScheduledTask, now: datetime) -> str:
        current = await rounds.open_round_or_none(session, self.study_id)
        if current is None or current.id != task.round_id:
            await schedule.claim(session, task.id, now, "skipped:closed")
            return "skipped:closed"
        if not await schedule.claim(session, task.id, now, "sent"):
            return "taken"
        counts = await schedule.response_counts(session, self.study_id)
        await self._to_coordinators(
            session, "digest", [texts.digest(self.spec.study.title, counts,
                                             self.spec.study.timezone)],
            f"digest:{self.study_id}:{task.id}", now)
        return "digest"

    # --- when: APScheduler -----------------------------------------------------------

    async def start(self) -> None:
        """Catch up on what fell due while the bot was down, then wake at each due time."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.start()
        self._aps.add_job(self._job, "interval", seconds=self.resync_seconds,
                          id="delphi:resync", replace_existing=True, coalesce=True,
                          max_instances=1, misfire_grace_time=MISFIRE_GRACE_SECONDS)
        await self.tick()

    def poke(self) -> None:
        """Something changed (a round opened, a deadline moved): re-plan soon."""
        if self._aps is not None and self._aps.running:
            self._aps.add_job(self._job, id="delphi:poke", replace_existing=True,
                              misfire_grace_time=MISFIRE_GRACE_SECONDS)

    async def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        if self._jobs:
            _, late = await asyncio.wait(set(self._jobs), timeout=STOP_GRACE_SECONDS)
            for job in late:
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job

    async def _job(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._jobs.add(task)
        try:
            await self.tick()
        except Exception:  # the next job or re-sync tries again; the rows are the truth
            log.exception("scheduler run failed")
        finally:
            if task is not None:
                self._jobs.discard(task)

    async def tick(self) -> None:
        """Run what is due, then make the wake-up calls match the rows."""
        async with self._lock:
            outcomes = await self.run_due()
            if outcomes:
                log.info("scheduler: %s", dict(outcomes))
            await self.rebuild()

    def job_ids(self) -> list[str]:
        if self._aps is None:
            return []
        return sorted(job.id for job in self._aps.get_jobs())

    async def rebuild(self) -> None:
        """One date job per distinct due time, id ``delphi:due:<epoch>`` (stable across
        restarts; ``replace_existing`` makes re-adding harmless). The study clock may be
        a test clock, so run dates are offsets from it applied to the wall clock."""
        if self._aps is None:
            return
        async with self.store.transaction() as session:
            times = await schedule.pending_times(session, self.study_id)
        now, wall = self.clock.now(), datetime.now(UTC)
        wanted = {f"{JOB_PREFIX}{int(t.timestamp())}": t for t in times}
        for job in self._aps.get_jobs():
            if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
                job.remove()
        for job_id, due in wanted.items():
            delay = max((due - now).total_seconds(), MIN_DELAY_SECONDS)
            self._aps.add_job(self._job, "date", run_date=wall + timedelta(seconds=delay),
                              id=job_id, replace_existing=True, coalesce=True,
                              misfire_grace_time=MISFIRE_GRACE_SECONDS)
