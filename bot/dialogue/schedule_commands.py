"""Coordinator commands about time: ``/extend <when>`` and ``/nudge``.

Listed in :data:`bot.dialogue.commands.TABLE`. Both write in the coordinator's
transaction and queue their messages in the outbox, like every other command.

- ``/extend 3d`` gives three more days counted from the current deadline (from now if it
  has passed); ``/extend 2026-12-01`` or ``/extend 2026-12-01 18:00`` sets the deadline
  (study time zone). Nudges are re-planned for the new deadline and the experts whose
  ballot is incomplete are told.
- ``/nudge`` reminds every expert whose ballot is incomplete, now, except those in their
  quiet hours (they keep their next scheduled reminder) and those unreachable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Reply, card
from bot.chat.text import Step
from bot.delivery.outbox import enqueue
from bot.dialogue import texts
from bot.dialogue.coordination import Coordination
from engine import outbox, rounds, schedule
from engine.errors import ConcurrentChange, InvalidValue, RoundNotOpen
from engine.locks import hold_study
from engine.models import Round
from engine.panel import incomplete_ballots, seconds_per_statement


async def _open_round(coordination: Coordination, session: AsyncSession) -> Round:
    current = await rounds.open_round_or_none(session, coordination.study_id)
    if current is None:
        raise RoundNotOpen("No round is open, so there is no deadline to move or remind of.")
    return current


async def extend(coordination: Coordination, session: AsyncSession, args: str,
                 now: datetime) -> Reply:
    if not args:
        command = Step("extend")
        raise InvalidValue("Use: ", command, " <when>, e.g. ", command, " 3d (three more days), ",
                           command, " 2026-12-01 or ", command, " 2026-12-01 18:00")
    seen = await rounds.open_round_deadline(session, coordination.study_id)
    await hold_study(session, coordination.study_id)
    current = await _open_round(coordination, session)
    if seen is not None and seen != (current.id, current.deadline):
        when = texts.format_time(current.deadline, coordination.spec.study.timezone)
        raise ConcurrentChange(f"The deadline of round {current.number} was just moved by "
                               f"another coordinator, to {when}; nothing changed.")
    base = max(current.deadline or now, now)
    deadline = coordination.parse_deadline(args, now, base)
    if deadline is None:
        raise InvalidValue("The new deadline must be in the future.")
    await schedule.move_deadline(session, current, deadline, now)
    await schedule.plan_round(session, coordination.spec, current, now)
    told = 0
    for expert, _ in await incomplete_ballots(session, coordination.study_id):
        zone = coordination.context.zone(expert.timezone)
        await enqueue(session, coordination.study_id, "deadline_moved",
                      [texts.deadline_moved(current.number, deadline, zone)],
                      f"extend:{coordination.study_id}:{current.number}:"
                      f"{int(deadline.timestamp())}:{expert.id}", now, participant_id=expert.id)
        told += 1
    when = texts.format_time(deadline, coordination.spec.study.timezone)
    return Reply(send=[card(f"Round {current.number} now closes {when}. Reminders are "
                            f"rescheduled; {told} expert{'s' if told != 1 else ''} with an "
                            "incomplete ballot were told.")])


async def _last_nudge(session: AsyncSession, study_id: str) -> int | None:
    """The newest reminder queued by /nudge (its outbox id)."""
    return await outbox.newest(session, f"nudge-now:{study_id}:")


async def nudge(coordination: Coordination, session: AsyncSession, args: str,
                now: datetime) -> Reply:
    seen = await _last_nudge(session, coordination.study_id)
    await hold_study(session, coordination.study_id)
    if await _last_nudge(session, coordination.study_id) != seen:
        raise ConcurrentChange("The experts were just reminded by another coordinator's ",
                               Step("nudge"), "; nothing more was sent.")
    current = await _open_round(coordination, session)
    if current.deadline is not None and now >= current.deadline:
        raise InvalidValue(f"The deadline of round {current.number} has passed; ",
                           Step("extend"), " it first, or close the round.")
    quiet = schedule.QuietHours.parse(coordination.spec.schedule.quiet_hours)
    sent = resting = 0
    for expert, progress in await incomplete_ballots(session, coordination.study_id):
        zone = coordination.context.zone(expert.timezone)
        if quiet.end_of_quiet(now, zone) is not None:
            resting += 1
            continue
        pace = await seconds_per_statement(session, expert.id)
        await enqueue(session, coordination.study_id, "nudge", [texts.nudge(progress, zone, pace)],
                      f"nudge-now:{coordination.study_id}:{current.number}:{expert.id}:"
                      f"{int(now.timestamp())}", now, participant_id=expert.id)
        sent += 1
    return Reply(send=[texts.nudged(sent, resting, current.number)])
