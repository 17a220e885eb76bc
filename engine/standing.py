"""One expert's standing: the snapshot every ballot event starts from.

Who the expert is (id, status, time zone), the open round, their ballot and its answers,
and whether a free-text answer is awaited, read in ONE statement. A button press is the
bot's hottest path, and on it SQLAlchemy's per-statement, per-trip and per-object costs
were most of the time (not SQLite's): so the standing is read with Core (rows, no ORM
objects), together with the replay check of the event that asks for it
(:func:`arrive`), in one trip into SQLAlchemy's greenlet.

Here too is the check every ballot button answers to, made once per event
(:func:`button_round`): the expert takes part, and the button's round is the open one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from engine import rounds
from engine.db import in_one_trip, upsert_statement
from engine.errors import NotEnrolled, ParticipantInactive, RoundClosed, RoundNotOpen, Step
from engine.models import (
    Ballot,
    Identity,
    Participant,
    PendingInput,
    ProcessedUpdate,
    Rating,
    Round,
    round_status_is,
)
from engine.trips import CoreTrip, Trip

NOT_ENROLLED = "You are not enrolled in this study; you need an invite link."
NO_OPEN_ROUND = ("No round is open at the moment; you will get a message when the next one "
                 "opens.")

_INACTIVE: dict[str, tuple[str | Step, ...]] = {
    "enrolled": ("Please answer the consent question first (send ", Step("start"),
                 " again to see it)."),
    "screening": ("Please finish the screening questions first.",),
    "declined": ("You declined to take part, so nothing was recorded.",),
    "ineligible": ("You are not eligible for this study, so nothing was recorded.",),
    "withdrawn": ("You have withdrawn from this study, so nothing was recorded.",),
}


@dataclass(frozen=True)
class OpenRound:
    """The open round, as read with a standing."""

    id: int
    number: int
    deadline: datetime | None
    status: str = "open"


@dataclass(frozen=True)
class Standing:
    """One expert's standing in the open round, read in one statement.

    A standing is a snapshot: after a write, read it again (or use what the write
    returned).
    """

    id: int
    study_id: str
    status: str
    timezone: str | None
    round: OpenRound | None
    ballot_id: int | None
    submitted_at: datetime | None
    given: Mapping[int, int | None]  # statement version -> value (None: unable to rate)
    awaiting_text: bool = False  # a free-text answer is expected (engine.conversation)


Expert = int | Standing  # a participant id, or that participant's standing already read


@dataclass(frozen=True)
class Arrival:
    """What an incoming event finds: whether its update is new, and who sent it."""

    first_time: bool
    expert: Standing | None  # None: the sender is not on this study's panel


def ensure_active(participant: Participant | Standing) -> None:
    if participant.status != "active":
        raise ParticipantInactive(*_INACTIVE.get(
            participant.status, ("You are not taking part in this study.",)))


def matching_round(expert: Standing, round_number: int | None) -> OpenRound | None:
    """The open round, if the expert takes part and a button made for round
    ``round_number`` (None: for whichever round is open) may act on it; None when the
    button belongs to another round (:func:`button_round` says which refusal)."""
    ensure_active(expert)
    current = expert.round
    if round_number is not None and (current is None or current.number != round_number):
        return None
    if current is None:
        raise RoundNotOpen(NO_OPEN_ROUND)
    return current


async def button_round(session: AsyncSession, expert: Standing,
                       round_number: int | None) -> OpenRound:
    """The open round, if the expert takes part and a button made for round
    ``round_number`` may act on it. Every ballot button is checked here, once; a write
    adds the deadline (engine.ballots)."""
    current = matching_round(expert, round_number)
    if current is not None:
        return current
    assert round_number is not None  # a button for whichever round is open matches it
    if await rounds.status_of(session, expert.study_id, round_number) == "closed":
        raise RoundClosed(f"Round {round_number} has closed; this button no longer works. "
                          "Send ", Step("ballot"), " for the current round.")
    raise RoundNotOpen(f"Round {round_number} is not open, so this button does nothing "
                       "now. Send ", Step("ballot"), " to continue.")


# Core tables, not ORM entities: these statements run on every press (see the docstring).
_PARTICIPANTS, _IDENTITIES = Participant.__table__, Identity.__table__
_PENDING, _UPDATES = PendingInput.__table__, ProcessedUpdate.__table__
_ROUNDS, _BALLOTS, _RATINGS = Round.__table__, Ballot.__table__, Rating.__table__
_COLUMNS = (
    _PARTICIPANTS.c.id, _PARTICIPANTS.c.study_id, _PARTICIPANTS.c.status,
    _PARTICIPANTS.c.timezone, _ROUNDS.c.id, _ROUNDS.c.number, _ROUNDS.c.deadline,
    _BALLOTS.c.id, _BALLOTS.c.submitted_at, _RATINGS.c.statement_version_id,
    _RATINGS.c.value, _PENDING.c.participant_id)
_FROM = (
    _PARTICIPANTS
    .outerjoin(_PENDING, _PENDING.c.participant_id == _PARTICIPANTS.c.id)
    .outerjoin(_ROUNDS, (_ROUNDS.c.study_id == _PARTICIPANTS.c.study_id)
               & round_status_is("open"))
    .outerjoin(_BALLOTS, (_BALLOTS.c.round_id == _ROUNDS.c.id)
               & (_BALLOTS.c.participant_id == _PARTICIPANTS.c.id))
    .outerjoin(_RATINGS, _RATINGS.c.ballot_id == _BALLOTS.c.id))
_BY_ID = (select(*_COLUMNS).select_from(_FROM)
          .where(_PARTICIPANTS.c.id == bindparam("participant_id")))
_BY_IDENTITY = (
    select(*_COLUMNS)
    .select_from(_IDENTITIES.join(_FROM, _PARTICIPANTS.c.id == _IDENTITIES.c.participant_id))
    .where(_IDENTITIES.c.study_id == bindparam("study_id"),
           _IDENTITIES.c.platform == bindparam("platform"),
           _IDENTITIES.c.user_id == bindparam("user_id")))


def _standing_from(rows: Sequence[Sequence[Any]]) -> Standing | None:
    if not rows:
        return None
    (participant_id, study_id, status, zone, round_id, number, deadline, ballot_id,
     submitted_at, _, _, pending) = rows[0]
    return Standing(
        participant_id, study_id, status, zone,
        OpenRound(round_id, number, deadline) if round_id is not None else None,
        ballot_id, submitted_at,
        {row[9]: row[10] for row in rows if row[9] is not None}, pending is not None)


async def standing(session: AsyncSession, expert: Expert) -> Standing:
    """The standing of a participant (read now), or the one the caller passes."""
    if isinstance(expert, Standing):
        return expert
    found = await in_one_trip(session, lambda connection: _standing_from(
        connection.execute(_BY_ID, {"participant_id": expert}).all()))
    if found is None:
        raise NotEnrolled(NOT_ENROLLED)
    return found


async def standing_of(session: AsyncSession, study_id: str, platform: str, user_id: str
                      ) -> Standing | None:
    """The standing of whoever this platform user is in the study; None if nobody."""
    return await in_one_trip(session, lambda connection: read_standing(
        CoreTrip(connection), study_id, platform, user_id))


def read_standing(trip: Trip, study_id: str, platform: str, user_id: str
                  ) -> Standing | None:
    """:func:`standing_of`, as one statement of a trip (engine.trips)."""
    return _standing_from(trip.rows(_BY_IDENTITY, {
        "study_id": study_id, "platform": platform, "user_id": user_id}))


async def arrive(session: AsyncSession, study_id: str, platform: str, user_id: str,
                 update_key: str | None, now: datetime) -> Arrival:
    """Record the platform's update key (a replayed update finds it recorded) and read
    the sender's standing, in one trip: the first thing every incoming event needs."""

    def read(connection: Connection) -> Arrival:
        trip = CoreTrip(connection)
        if not first_arrival(trip, platform, update_key, now):
            return Arrival(False, None)
        return Arrival(True, read_standing(trip, study_id, platform, user_id))

    return await in_one_trip(session, read)


async def record_update(session: AsyncSession, platform: str, update_key: str,
                        now: datetime) -> bool:
    """Record a platform's update key; False when it was recorded before (a replay)."""
    return await in_one_trip(session, lambda connection: first_arrival(
        CoreTrip(connection), platform, update_key, now))


def first_arrival(trip: Trip, platform: str, update_key: str | None, now: datetime) -> bool:
    """Record a platform's update key, as one statement of a trip; False when it was
    recorded before (a replay). An event without a key (the in-process backend) always
    arrives for the first time."""
    if update_key is None:
        return True
    statement = upsert_statement(trip.dialect_name, _UPDATES,
                                 ("platform", "update_key", "processed_at"),
                                 ("platform", "update_key"))
    return bool(trip.count(statement, {
        "platform": platform, "update_key": update_key, "processed_at": now}))
