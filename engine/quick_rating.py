"""A rating press in one trip (engine.trips): the common case of the bot's hottest path.

The full path (engine.standing.arrive, then engine.ballots.record_rating, in a session)
handles every press. This one handles only a press whose whole answer needs nothing more
from the database, and answers None for any other before it writes anything; the caller
then takes the full path, which also gives every refusal its sentence. Its checks are the
full path's own functions, so the two paths cannot disagree on what is recorded.

Served: the expert takes part; the button's round is the open round, before its
deadline; the expert's ballot is not submitted (it is started here if need be); the
statement is on it (the ballot as already read once for this database,
engine.ballots.remembered_items); the value is on the scale; and the round is round 1.
From round 2 on, the next card carries the previous round's feedback and a rating may
call for a reason, both read in the transaction, so those presses take the full path.
Round 1 is where most presses are: every statement, from every expert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.ballots import (
    RatingReceipt,
    before_deadline,
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
class Press:
    """A rating button as it arrived: who, which update, which round, statement, value."""

    study_id: str
    platform: str
    user_id: str
    update_key: str | None
    round_number: int | None
    code: str
    value: int | None


@dataclass(frozen=True)
class QuickRating:
    """A press served in one trip: the rating written, or a replay (nothing written)."""

    expert: Standing
    receipt: RatingReceipt | None  # None: the update was seen before


def may_serve(round_number: int | None) -> bool:
    """Whether a button made for ``round_number`` may be served here at all: the caller
    asks before it opens a trip, so a round-2 press costs no statement more."""
    return round_number is None or round_number == SERVED_ROUND


def rate(trip: Trip, memo: Mapping[Any, Any], spec: StudyFile, press: Press,
         now: datetime) -> QuickRating | None:
    """Serve ``press`` in ``trip`` if it is the common case; None (nothing written) if
    the full path must take it."""
    expert = read_standing(trip, press.study_id, press.platform, press.user_id)
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
    if not first_arrival(trip, press.platform, press.update_key, now):
        return QuickRating(expert, None)
    write_rating(trip, start_ballot(trip, expert, current, now), item, press.value, now)
    return QuickRating(expert, rating_receipt(expert, current, items, item, press.value))
