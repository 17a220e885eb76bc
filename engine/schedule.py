"""What is due when: deadlines, nudges and digests as rows in ``scheduled_tasks``.

The database is the source of truth for time-driven work. This module plans the rows
for an open round (idempotently: every row has a stable key, inserts ignore conflicts),
answers "what is due now", and claims a row (``UPDATE .. WHERE done_at IS NULL``) so
that the caller can act on it exactly once, in the same transaction. It knows nothing
about messengers or APScheduler; ``bot.dialogue.scheduler`` does the talking.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import upsert
from engine.models import Participant, Round, ScheduledTask
from engine.rounds import ballot_counts, panel_size
from engine.studyfile import StudyFile

DEADLINE_KEY = "deadline"
RESCHEDULED = "skipped:rescheduled"


# --- quiet hours ---------------------------------------------------------------------

@dataclass(frozen=True)
class QuietHours:
    """A local-time window without nudges, e.g. 21:00-08:00 (may wrap past midnight)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        first, _, second = text.partition("-")
        return cls(time.fromisoformat(first), time.fromisoformat(second))

    def end_of_quiet(self, moment: datetime, zone: str) -> datetime | None:
        """If ``moment`` falls in the quiet window in ``zone``: when that window ends (UTC).
        None when ``moment`` is not in quiet hours."""
        if self.start == self.end:
            return None
        tz = ZoneInfo(zone)
        local = moment.astimezone(tz)
        now = local.time().replace(tzinfo=None)
        day: date = local.date()
        if self.start < self.end:
            quiet = self.start <= now < self.end
        else:  # wraps midnight: quiet from start to 24:00 and from 00:00 to end
            quiet = now >= self.start or now < self.end
            if now >= self.start:
                day = day + timedelta(days=1)
        if not quiet:
            return None
        return datetime.combine(day, self.end, tzinfo=tz).astimezone(UTC)


def nudge_time(nominal: datetime, zone: str, quiet: QuietHours,
               deadline: datetime) -> datetime | None:
    """When a nudge nominally due at ``nominal`` may go out: then, or at the end of the
    expert's quiet hours; None if that is no longer before the deadline."""
    moment = quiet.end_of_quiet(nominal, zone) or nominal
    return moment if moment < deadline else None


# --- planning --------------------------------------------------------------------------

def _task(study_id: str, round_: Round, key: str, kind: str, due: datetime, now: datetime,
          participant_id: int | None = None, done: str | None = None) -> dict[str, object]:
    return {"study_id": study_id, "round_id": round_.id, "key": key, "kind": kind,
            "participant_id": participant_id, "due_at": due,
            "done_at": now if done else None, "outcome": done, "created_at": now}


def nudge_key(participant_id: int, hours: int, deadline: datetime) -> str:
    """Keyed by the deadline too (``move_deadline`` relies on the ``:<epoch>`` ending):
    after /extend the offsets apply to the new deadline."""
    return f"nudge:{participant_id}:{hours}h:{int(deadline.timestamp())}"


def digest_time(hour: int, zone: str, after: datetime) -> datetime:
    """The first ``hour``:00 in ``zone`` strictly after ``after``."""
    tz = ZoneInfo(zone)
    local = after.astimezone(tz)
    moment = datetime.combine(local.date(), time(hour), tzinfo=tz)
    if moment <= local:
        moment = datetime.combine(local.date() + timedelta(days=1), time(hour), tzinfo=tz)
    return moment.astimezone(UTC)


async def plan_round(session: AsyncSession, spec: StudyFile, round_: Round,
                     now: datetime) -> None:
    """Make sure the open round has its deadline, nudge and digest rows (idempotent).

    Nudges are planned per active expert, shifted out of their quiet hours (their own
    time zone, else the study's); an offset whose time has already passed when the row
    would be created (a late joiner, a short round) is not planned at all.
    """
    if round_.deadline is None or round_.status != "open":
        return
    deadline = round_.deadline
    schedule = spec.schedule
    rows = [_task(spec.study.id, round_, DEADLINE_KEY, "deadline", deadline, now)]
    quiet = QuietHours.parse(schedule.quiet_hours)
    experts = (await session.execute(select(Participant.id, Participant.timezone).where(
        Participant.study_id == spec.study.id, Participant.status == "active"))).all()
    for participant_id, zone in experts:
        for hours in schedule.nudge_hours_before:
            nominal = deadline - timedelta(hours=hours)
            if nominal <= now:
                continue
            due = nudge_time(nominal, zone or spec.study.timezone, quiet, deadline)
            rows.append(_task(spec.study.id, round_, nudge_key(participant_id, hours, deadline),
                              "nudge", due or nominal, now, participant_id,
                              done=None if due else "skipped:quiet"))
    if schedule.digest_hour is not None:
        due = digest_time(schedule.digest_hour, spec.study.timezone, now)
        if due < deadline:
            local_day = due.astimezone(ZoneInfo(spec.study.timezone)).date()
            rows.append(_task(spec.study.id, round_, f"digest:{local_day.isoformat()}",
                              "digest", due, now))
    existing = set(await session.scalars(select(ScheduledTask.key).where(
        ScheduledTask.round_id == round_.id)))
    for values in rows:
        if values["key"] not in existing:  # the upsert still guards a concurrent planner
            await upsert(session, ScheduledTask.__table__, values,
                         conflict=("round_id", "key"))


async def move_deadline(session: AsyncSession, round_: Round, deadline: datetime,
                        now: datetime) -> int:
    """Give the round a new deadline: re-arm its deadline row, retire the nudges still
    planned for another deadline (``plan_round`` then plans them for the new one), and
    bring back the nudges retired earlier for this very deadline that still lie ahead.
    Without that, a second ``/extend`` to the same time (a double-sent command) or an
    extension moved back again would cancel those reminders for good: their keys exist,
    so ``plan_round`` never plans them again. Returns how many nudges were retired."""
    round_.deadline = deadline
    await session.execute(update(ScheduledTask).where(
        ScheduledTask.round_id == round_.id, ScheduledTask.key == DEADLINE_KEY).values(
        due_at=deadline, done_at=None, outcome=None))
    for_this_deadline = ScheduledTask.key.endswith(f":{int(deadline.timestamp())}")
    nudges = (ScheduledTask.round_id == round_.id, ScheduledTask.kind == "nudge")
    retired = await session.execute(update(ScheduledTask).where(
        *nudges, ScheduledTask.done_at.is_(None), ~for_this_deadline).values(
        done_at=now, outcome=RESCHEDULED))
    await session.execute(update(ScheduledTask).where(
        *nudges, ScheduledTask.outcome == RESCHEDULED, for_this_deadline,
        ScheduledTask.due_at > now).values(done_at=None, outcome=None))
    await session.flush()
    return int(getattr(retired, "rowcount", 0) or 0)


# --- running ------------------------------------------------------------------------------

async def due_tasks(session: AsyncSession, study_id: str, now: datetime,
                    limit: int = 1000) -> list[ScheduledTask]:
    """Unclaimed rows due by ``now``: deadlines first, then in due order."""
    rows = await session.scalars(select(ScheduledTask).where(
        ScheduledTask.study_id == study_id, ScheduledTask.done_at.is_(None),
        ScheduledTask.due_at <= now).order_by(ScheduledTask.due_at, ScheduledTask.id)
        .limit(limit))
    return sorted(rows, key=lambda t: (t.kind != "deadline", t.due_at, t.id))


async def pending_times(session: AsyncSession, study_id: str) -> list[datetime]:
    """The distinct times at which unclaimed rows fall due (for the wake-up calls)."""
    rows = await session.scalars(select(ScheduledTask.due_at).where(
        ScheduledTask.study_id == study_id, ScheduledTask.done_at.is_(None))
        .group_by(ScheduledTask.due_at).order_by(ScheduledTask.due_at))
    return list(rows)


async def claim(session: AsyncSession, task_id: int, now: datetime, outcome: str) -> bool:
    """Take the task for this transaction; False if another process already did."""
    result = await session.execute(update(ScheduledTask).where(
        ScheduledTask.id == task_id, ScheduledTask.done_at.is_(None)).values(
        done_at=now, outcome=outcome))
    return bool(getattr(result, "rowcount", 0))


async def postpone(session: AsyncSession, task_id: int, due: datetime) -> None:
    await session.execute(update(ScheduledTask).where(
        ScheduledTask.id == task_id, ScheduledTask.done_at.is_(None)).values(due_at=due))


def superseded(tasks: Iterable[ScheduledTask]) -> tuple[list[ScheduledTask],
                                                         list[ScheduledTask]]:
    """Several nudges due for one expert at once (the bot was down): keep only the latest;
    an expert gets one reminder, not a burst of stale ones."""
    latest: dict[int | None, ScheduledTask] = {}
    others: list[ScheduledTask] = []
    for task in tasks:
        current = latest.get(task.participant_id)
        if current is None or (task.due_at, task.id) > (current.due_at, current.id):
            if current is not None:
                others.append(current)
            latest[task.participant_id] = task
        else:
            others.append(task)
    return list(latest.values()), others


# --- response counts -----------------------------------------------------------------------

@dataclass(frozen=True)
class RoundCounts:
    number: int
    status: str
    submitted: int
    started: int
    panel: int
    deadline: datetime | None


async def response_counts(session: AsyncSession, study_id: str) -> list[RoundCounts]:
    """Submitted / started / panel per round that has been opened (for the digest)."""
    rounds: Sequence[Round] = (await session.scalars(select(Round).where(
        Round.study_id == study_id, Round.status != "draft").order_by(Round.number))).all()
    return [await round_counts(session, round_) for round_ in rounds]


async def round_counts(session: AsyncSession, round_: Round) -> RoundCounts:
    """Submitted / started ballots and the panel expected to rate one round."""
    submitted, started = await ballot_counts(session, round_.id)
    return RoundCounts(round_.number, round_.status, submitted, started,
                       await panel_size(session, round_), round_.deadline)
