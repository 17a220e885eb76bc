"""The expert's two commonest events, each in one trip (engine.trips): a rating press,
and ``/ballot``.

The full path (engine.standing.arrive, then the engine's functions, in a session)
handles every event. These handle only an event whose whole answer needs nothing more
from the database, and answer None for any other before they write anything; the caller
then takes the full path, which also gives every refusal its sentence. Their checks are
the full path's own functions, so the two paths cannot disagree on what is recorded.

Served, for both: the expert takes part, the open round is round 1, and its ballot has
been read once already for this database (engine.ballots.remembered_items). From round 2
on, a statement card carries the previous round's feedback and a rating may call for a
reason, both read in the transaction, so those events take the full path. Round 1 is
where most events are: every statement, from every expert.
- A rating: the button is the open round's, before its deadline; the expert's ballot is
  not submitted (it is started here if need be); the statement is on it; the value is
  on the scale.
- ``/ballot``: no comment prompt waits (dropping one is the full path's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.ballots import (
    Progress,
    RatingReceipt,
    before_deadline,
    progress_of,
    rating_receipt,
    rating_target,
    remembered_items,
    start_ballot,
    write_rating,
)
from engine.errors import DelphiError
from engine.standing import Standing, first_arrival, matching_round, read_standing
from engine.studyfile import StudyFile
from engine.trips import Trip

SERVED_ROUND = 1


@dataclass(frozen=True)
class Sender:
    """Who sent an event, to which study, in which platform update."""

    study_id: str
    platform: str
    user_id: str
    update_key: str | None


@dataclass(frozen=True)
class Press:
    """A rating button as it arrived: which round, statement and value."""

    round_number: int | None
    code: str
    value: int | None


@dataclass(frozen=True)
class QuickRating:
    """A press served in one trip: the rating written, or a replay (nothing written)."""

    expert: Standing
    receipt: RatingReceipt | None  # None: the update was seen before


@dataclass(frozen=True)
class QuickBallot:
    """``/ballot`` served in one trip: where the expert stands, or a replay."""

    expert: Standing
    progress: Progress | None  # None: the update was seen before


def may_serve(round_number: int | None) -> bool:
    """Whether a button made for ``round_number`` may be served here at all: the caller
    asks before it opens a trip, so a round-2 press costs no statement more."""
    return round_number is None or round_number == SERVED_ROUND


def rate(trip: Trip, memo: Mapping[Any, Any], spec: StudyFile, sender: Sender,
         press: Press, now: datetime) -> QuickRating | None:
    """Serve ``press`` in ``trip`` if it is the common case; None (nothing written) if
    the full path must take it."""
    expert = _sender_standing(trip, sender)
    if expert is None:
        return None
    try:
        current = matching_round(expert, press.round_number)
        if current is None or current.number != SERVED_ROUND:
            return None
        before_deadline(current, now)
        items = remembered_items(memo, current.id)
        if items is None:
            return None
        item = rating_target(spec, items, expert, current, press.code, press.value)
    except DelphiError:
        return None
    if not first_arrival(trip, sender.platform, sender.update_key, now):
        return QuickRating(expert, None)
    write_rating(trip, start_ballot(trip, expert, current, now), item, press.value, now)
    return QuickRating(expert, rating_receipt(expert, current, items, item, press.value))


def ballot(trip: Trip, memo: Mapping[Any, Any], sender: Sender,
           now: datetime) -> QuickBallot | None:
    """Serve ``/ballot`` in ``trip`` if it is the common case; None (nothing written) if
    the full path must take it."""
    expert = _sender_standing(trip, sender)
    if expert is None or expert.status != "active" or expert.awaiting_text:
        return None
    current = expert.round
    if current is None or current.number != SERVED_ROUND:
        return None
    items = remembered_items(memo, current.id)
    if items is None:
        return None
    if not first_arrival(trip, sender.platform, sender.update_key, now):
        return QuickBallot(expert, None)
    return QuickBallot(expert, progress_of(expert, current, items))


def _sender_standing(trip: Trip, sender: Sender) -> Standing | None:
    return read_standing(trip, sender.study_id, sender.platform, sender.user_id)
