"""An expert's ballot: what to rate next, recording ratings and comments, submitting.

Every write is idempotent: a rating is an upsert on (ballot, statement version), so a
double press or a replayed update leaves the same row behind.

Every ballot function starts from the expert's standing (engine.standing): a
participant id, read then, or the standing the caller has already read for the event.
A write checks, once, that the expert takes part and that the button's round is the
open one and still before its deadline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import in_one_trip, upsert, upsert_statement
from engine.errors import (
    BallotSubmitted,
    DeadlinePassed,
    InvalidValue,
    NotOnBallot,
    RoundNotOpen,
    Step,
)
from engine.loading import study_spec
from engine.models import (
    Ballot,
    Comment,
    Rating,
    RoundItem,
    Statement,
    StatementVersion,
)
from engine.standing import (
    NO_OPEN_ROUND,
    Expert,
    OpenRound,
    Standing,
    button_round,
    ensure_active,
    standing,
)
from engine.studyfile import StudyFile
from engine.trips import CoreTrip, Trip
from engine.visible import is_blank

MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class BallotItem:
    """One statement as it appears on a round's ballot."""

    round: int
    position: int
    total: int
    code: str
    domain: str
    text: str
    version_id: int
    version: int
    revised_from_id: int | None
    change_note: str | None


Answer = tuple[BallotItem, int | None, bool]  # (statement, value, answered?)


@dataclass(frozen=True)
class Progress:
    round: int
    total: int
    answered: int
    unable: int
    submitted_at: datetime | None
    deadline: datetime | None
    first_unanswered: BallotItem | None
    entries: tuple[Answer, ...] = ()  # every statement in ballot order: the review

    @property
    def complete(self) -> bool:
        return self.answered == self.total


@dataclass(frozen=True)
class RatingReceipt:
    item: BallotItem
    value: int | None
    previous: int | None
    replaced: bool
    progress: Progress


class RoundRef(Protocol):
    """What a ballot needs of a round: a :class:`Round` row or an :class:`OpenRound`."""

    @property
    def id(self) -> int: ...
    @property
    def number(self) -> int: ...
    @property
    def status(self) -> str: ...


_BALLOTS, _RATINGS, _COMMENTS = Ballot.__table__, Rating.__table__, Comment.__table__
_RATING_KEY = ("ballot_id", "statement_version_id")
_RATING_COLUMNS = (*_RATING_KEY, "value", "created_at", "updated_at")
_BALLOT_ID = select(_BALLOTS.c.id).where(_BALLOTS.c.round_id == bindparam("round_id"),
                                         _BALLOTS.c.participant_id == bindparam("participant_id"))


async def ballot_items(session: AsyncSession, round_: RoundRef) -> list[BallotItem]:
    """The statements of a round in ballot order.

    Only a draft's ballot changes (revisions go to the next draft; an open or closed
    round's never does), so an open or closed round's is read once per database and kept
    in the store's memo (the close then finds it there); a draft's is read afresh.
    """
    memo = session.info.get("memo") if round_.status != "draft" else None
    if memo is not None and (cached := remembered_items(memo, round_.id)) is not None:
        return cached
    items = await _read_ballot_items(session, round_)
    if memo is not None:
        memo[("ballot_items", round_.id)] = items
    return items


def remembered_items(memo: Mapping[Any, Any], round_id: int) -> list[BallotItem] | None:
    """An open or closed round's ballot, if :func:`ballot_items` has read it already."""
    items: list[BallotItem] | None = memo.get(("ballot_items", round_id))
    return items


async def _read_ballot_items(session: AsyncSession, round_: RoundRef) -> list[BallotItem]:
    rows = (await session.execute(
        select(RoundItem.position, Statement.code, Statement.domain, StatementVersion)
        .join(StatementVersion, StatementVersion.id == RoundItem.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(RoundItem.round_id == round_.id).order_by(RoundItem.position))).all()
    return [BallotItem(round_.number, index, len(rows), code, domain, v.text, v.id, v.version,
                       v.revised_from_id, v.change_note)
            for index, (_pos, code, domain, v) in enumerate(rows, start=1)]


async def _writable(session: AsyncSession, participant: Expert, round_number: int | None,
                    now: datetime) -> tuple[Standing, OpenRound]:
    """The expert's standing and the open round, if a button of round ``round_number``
    may still write to it: the expert takes part, the round is open, its deadline ahead."""
    expert = await standing(session, participant)
    current = await button_round(session, expert, round_number)
    before_deadline(current, now)
    return expert, current


def before_deadline(current: OpenRound, now: datetime) -> None:
    if current.deadline is not None and now >= current.deadline:
        raise DeadlinePassed(f"The deadline of round {current.number} has passed; ratings "
                             "can no longer be changed.")


async def _ensure_ballot(session: AsyncSession, expert: Standing, round_: OpenRound,
                         now: datetime) -> int:
    """The id of the expert's ballot of ``round_``, started now if there is none yet."""
    if expert.ballot_id is not None:
        return expert.ballot_id
    return await in_one_trip(session, lambda connection: start_ballot(
        CoreTrip(connection), expert, round_, now))


def start_ballot(trip: Trip, expert: Standing, round_: OpenRound, now: datetime) -> int:
    """The id of the expert's ballot of ``round_``, started now if there is none yet, as
    statements of a trip (engine.trips)."""
    if expert.ballot_id is not None:
        return expert.ballot_id
    values = {"round_id": round_.id, "participant_id": expert.id}
    created = trip.rows(upsert_statement(trip.dialect_name, _BALLOTS,
                                         ("round_id", "participant_id", "started_at"),
                                         ("round_id", "participant_id"),
                                         returning=("id",)), {**values, "started_at": now})
    if not created:  # another worker started it a moment ago
        created = trip.rows(_BALLOT_ID, values)
    assert created
    return int(created[0][0])


def _progress(round_: OpenRound, items: list[BallotItem], answers: Mapping[int, int | None],
              submitted_at: datetime | None) -> Progress:
    return Progress(
        round=round_.number,
        total=len(items),
        answered=sum(1 for item in items if item.version_id in answers),
        unable=sum(1 for item in items if item.version_id in answers
                   and answers[item.version_id] is None),
        submitted_at=submitted_at,
        deadline=round_.deadline,
        first_unanswered=next((i for i in items if i.version_id not in answers), None),
        entries=tuple((item, answers.get(item.version_id), item.version_id in answers)
                      for item in items),
    )


def _item(items: list[BallotItem], code: str, round_number: int) -> BallotItem:
    item = next((i for i in items if i.code == code), None)
    if item is None:
        raise NotOnBallot(f"Statement {code} is not on the ballot of round {round_number} "
                          "(it may have been dropped or revised). Send ", Step("ballot"),
                          " to continue.")
    return item


async def progress(session: AsyncSession, participant: Expert) -> Progress:
    """Where this participant stands in the open round."""
    expert = await standing(session, participant)
    if expert.round is None:
        raise RoundNotOpen(NO_OPEN_ROUND)
    return progress_of(expert, expert.round, await ballot_items(session, expert.round))


def progress_of(expert: Standing, current: OpenRound, items: list[BallotItem]) -> Progress:
    """Where the expert stands in ``current``, from their standing and its ballot."""
    return _progress(current, items, expert.given, expert.submitted_at)


async def answers(session: AsyncSession, participant: Expert) -> list[Answer]:
    """The review: every item of the open round with (value, answered?)."""
    return list((await progress(session, participant)).entries)


async def item_of(session: AsyncSession, participant: Expert, code: str) -> BallotItem:
    """The statement ``code`` on the open round's ballot."""
    expert = await standing(session, participant)
    if expert.round is None:
        raise RoundNotOpen(NO_OPEN_ROUND)
    return _item(await ballot_items(session, expert.round), code, expert.round.number)


async def item_at(session: AsyncSession, participant: Expert, position: int) -> BallotItem:
    """The statement at a position of the open round's ballot (for Back / review edits)."""
    expert = await standing(session, participant)
    if expert.round is None:
        raise RoundNotOpen("No round is open at the moment.")
    items = await ballot_items(session, expert.round)
    if not 1 <= position <= len(items):
        raise NotOnBallot(f"Round {expert.round.number} has statements 1 to {len(items)}.")
    return items[position - 1]


async def record_rating(
    session: AsyncSession,
    participant: Expert,
    round_number: int | None,
    code: str,
    value: int | None,
    now: datetime,
) -> RatingReceipt:
    """Record (or replace) a rating; ``None`` means unable to rate."""
    expert, current = await _writable(session, participant, round_number, now)
    spec = await study_spec(session, expert.study_id)
    items = await ballot_items(session, current)
    item = rating_target(spec, items, expert, current, code, value)
    ballot_id = await _ensure_ballot(session, expert, current, now)
    await in_one_trip(session, lambda connection: write_rating(
        CoreTrip(connection), ballot_id, item, value, now))
    return rating_receipt(expert, current, items, item, value)


def rating_target(spec: StudyFile, items: list[BallotItem], expert: Standing,
                  current: OpenRound, code: str, value: int | None) -> BallotItem:
    """The ballot's statement a rating of ``value`` for ``code`` goes to, if it may."""
    if value is None and not spec.scale.unable_to_rate:
        raise InvalidValue("This study does not offer \"unable to rate\"; choose a value.")
    if value is not None and not 1 <= value <= spec.scale.points:
        raise InvalidValue(f"Ratings go from 1 to {spec.scale.points}.")
    item = _item(items, code, current.number)
    if expert.submitted_at is not None:
        raise BallotSubmitted("You have submitted this round's ballot; choose \"Change "
                              "answers\" first if you want to change a rating.")
    return item


def write_rating(trip: Trip, ballot_id: int, item: BallotItem, value: int | None,
                 now: datetime) -> None:
    """Record (or replace) a rating on a started ballot, as one statement of a trip."""
    trip.count(upsert_statement(trip.dialect_name, _RATINGS, _RATING_COLUMNS,
                                _RATING_KEY, ("value", "updated_at")),
               {"ballot_id": ballot_id, "statement_version_id": item.version_id,
                "value": value, "created_at": now, "updated_at": now})


def rating_receipt(expert: Standing, current: OpenRound, items: list[BallotItem],
                   item: BallotItem, value: int | None) -> RatingReceipt:
    """What a rating changed, from the standing read before it was written."""
    given = dict(expert.given)
    replaced, old_value = item.version_id in given, given.get(item.version_id)
    given[item.version_id] = value
    return RatingReceipt(item, value, old_value, replaced,
                         _progress(current, items, given, None))


async def record_comment(
    session: AsyncSession,
    participant: Expert,
    round_number: int | None,
    code: str,
    text: str,
    now: datetime,
    kind: str = "comment",
    reply_to: int | None = None,
) -> BallotItem:
    """Store this participant's comment (or reason) on a statement of the open round,
    replacing an earlier one of the same kind; or, with ``reply_to``, their one reply to
    that comment (a second reply to the same comment changes nothing)."""
    text = text.strip()
    noun = {"comment": "comment", "reason": "reason", "reply": "reply"}[kind]
    if is_blank(text):
        raise InvalidValue(f"The {noun} is empty (only blank or invisible characters); "
                           f"nothing was saved. Please type your {noun} as text.")
    if len(text) > MAX_COMMENT_CHARS:
        raise InvalidValue(f"A {noun} can be at most {MAX_COMMENT_CHARS} characters (yours "
                           f"has {len(text)}); nothing was saved.")
    expert, current = await _writable(session, participant, round_number, now)
    item = _item(await ballot_items(session, current), code, current.number)
    if expert.submitted_at is not None:
        raise BallotSubmitted("You have submitted this round's ballot; choose \"Change "
                              f"answers\" first if you want to add a {noun}.")
    ballot_id = await _ensure_ballot(session, expert, current, now)
    row = {"ballot_id": ballot_id, "statement_version_id": item.version_id, "text": text,
           "kind": kind, "hidden": False, "created_at": now, "updated_at": now}
    if reply_to is not None:
        await upsert(session, _COMMENTS, {**row, "reply_to": reply_to},
                     conflict=("ballot_id", "reply_to"), where="reply_to IS NOT NULL")
    else:
        await upsert(session, _COMMENTS, row,
                     conflict=("ballot_id", "statement_version_id", "kind"),
                     update=("text", "updated_at"), where="reply_to IS NULL")
    return item


async def drop_reason(session: AsyncSession, ballot_id: int, version_id: int) -> None:
    """Remove the reason given for a rating that has changed and no longer calls for one."""
    await session.execute(delete(Comment).where(
        Comment.ballot_id == ballot_id, Comment.statement_version_id == version_id,
        Comment.kind == "reason"))


async def record_confidence(session: AsyncSession, participant: Expert,
                            round_number: int | None, codes: Sequence[str], level: int,
                            now: datetime) -> list[BallotItem]:
    """Set how sure the expert is (1 low - 3 high) of their ratings of ``codes``."""
    if level not in (1, 2, 3):
        raise InvalidValue("Confidence is low, medium or high.")
    expert, current = await _writable(session, participant, round_number, now)
    items = await ballot_items(session, current)
    chosen = [_item(items, code, current.number) for code in codes]
    rated = [i.version_id for i in chosen if i.version_id in expert.given]
    if expert.ballot_id is None or not rated:
        raise InvalidValue("Rate the statement first, then say how sure you are.")
    if expert.submitted_at is not None:
        raise BallotSubmitted("You have submitted this round's ballot; choose \"Change "
                              "answers\" first if you want to change anything.")
    await session.execute(update(Rating).where(
        Rating.ballot_id == expert.ballot_id, Rating.statement_version_id.in_(rated))
        .values(confidence=level))
    return chosen


async def next_unanswered(session: AsyncSession, participant: Expert) -> BallotItem | None:
    """The first statement of the open round this participant has not answered."""
    expert = await standing(session, participant)
    ensure_active(expert)
    return (await progress(session, expert)).first_unanswered


async def submit_ballot(session: AsyncSession, participant: Expert, now: datetime,
                        round_number: int | None = None) -> Progress:
    """Submit a complete ballot (of round ``round_number``, when a button says which);
    submitting again changes nothing."""
    expert, current = await _writable(session, participant, round_number, now)
    state = await progress(session, expert)
    if state.submitted_at is not None:
        return state
    if not state.complete:
        left = state.total - state.answered
        raise InvalidValue(f"{left} statement{'s are' if left != 1 else ' is'} still "
                           "unanswered; answer every statement before submitting.")
    await session.execute(update(Ballot).where(
        Ballot.round_id == current.id, Ballot.participant_id == expert.id,
        Ballot.submitted_at.is_(None)).values(submitted_at=now))
    return await progress(session, expert.id)


async def reopen_ballot(session: AsyncSession, participant: Expert, now: datetime,
                        round_number: int | None = None) -> Progress:
    """Take a submitted ballot back so answers can change while the round is still open."""
    expert, current = await _writable(session, participant, round_number, now)
    await session.execute(update(Ballot).where(
        Ballot.round_id == current.id, Ballot.participant_id == expert.id)
        .values(submitted_at=None))
    return await progress(session, expert.id)
