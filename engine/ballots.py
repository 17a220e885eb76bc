"""An expert's ballot: what to rate next, recording ratings and comments, submitting.

Every write is idempotent: a rating is an upsert on (ballot, statement version), so a
double press or a replayed update leaves the same row behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import upsert
from engine.enrolment import get_participant
from engine.errors import (
    BallotSubmitted,
    DeadlinePassed,
    InvalidValue,
    NotOnBallot,
    ParticipantInactive,
    RoundClosed,
    RoundNotOpen,
)
from engine.loading import study_spec
from engine.models import (
    Ballot,
    Comment,
    Participant,
    Rating,
    Round,
    RoundItem,
    Statement,
    StatementVersion,
)
from engine.rounds import open_round_or_none

MAX_COMMENT_CHARS = 2000

_INACTIVE = {
    "enrolled": "Please answer the consent question first (send /start again to see it).",
    "screening": "Please finish the screening questions first.",
    "declined": "You declined to take part, so nothing was recorded.",
    "ineligible": "You are not eligible for this study, so nothing was recorded.",
    "withdrawn": "You have withdrawn from this study, so nothing was recorded.",
}


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


def ensure_active(participant: Participant) -> None:
    if participant.status != "active":
        raise ParticipantInactive(_INACTIVE.get(
            participant.status, "You are not taking part in this study."))


async def ballot_items(session: AsyncSession, round_: Round) -> list[BallotItem]:
    """The statements of a round in ballot order.

    An open round's ballot cannot change (revisions go to the next draft), so it is read
    once per database and kept in the store's memo; other rounds are read afresh.
    """
    memo = session.info.get("memo") if round_.status == "open" else None
    key = ("ballot_items", round_.id)
    if memo is not None and key in memo:
        cached: list[BallotItem] = memo[key]
        return cached
    items = await _read_ballot_items(session, round_)
    if memo is not None:
        memo[key] = items
    return items


async def _read_ballot_items(session: AsyncSession, round_: Round) -> list[BallotItem]:
    rows = (await session.execute(
        select(RoundItem.position, Statement.code, Statement.domain, StatementVersion)
        .join(StatementVersion, StatementVersion.id == RoundItem.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(RoundItem.round_id == round_.id).order_by(RoundItem.position))).all()
    return [BallotItem(round_.number, index, len(rows), code, domain, v.text, v.id, v.version,
                       v.revised_from_id, v.change_note)
            for index, (_pos, code, domain, v) in enumerate(rows, start=1)]


async def _rateable_round(
    session: AsyncSession, study_id: str, round_number: int | None, now: datetime,
    current: Round | None,
) -> Round:
    """The open round ``current``, checked against the round a button was made for."""
    if round_number is not None and (current is None or current.number != round_number):
        closed = await session.scalar(select(Round).where(
            Round.study_id == study_id, Round.number == round_number))
        if closed is not None and closed.status == "closed":
            raise RoundClosed(f"Round {round_number} has closed; this button no longer works. "
                              "Send /ballot for the current round.")
        raise RoundNotOpen(f"Round {round_number} is not open.")
    if current is None:
        raise RoundNotOpen("No round is open at the moment; you will get a message when "
                           "the next one opens.")
    if current.deadline is not None and now >= current.deadline:
        raise DeadlinePassed(f"The deadline of round {current.number} has passed; ratings "
                             "can no longer be changed.")
    return current


# Built once: these run on every button press (see engine.db.upsert).
_BALLOT = select(Ballot).where(Ballot.round_id == bindparam("round_id"),
                               Ballot.participant_id == bindparam("participant_id"))
_OPEN_BALLOT = (
    select(Round, Ballot, Rating.statement_version_id, Rating.value)
    .outerjoin(Ballot, (Ballot.round_id == Round.id)
               & (Ballot.participant_id == bindparam("participant_id")))
    .outerjoin(Rating, Rating.ballot_id == Ballot.id)
    .where(Round.study_id == bindparam("study_id"), Round.status == "open"))


async def _ballot(session: AsyncSession, round_: Round, participant_id: int) -> Ballot | None:
    return await session.scalar(_BALLOT, {"round_id": round_.id,
                                          "participant_id": participant_id})


async def _open_ballot(session: AsyncSession, participant: Participant
                       ) -> tuple[Round | None, Ballot | None, dict[int, int | None]]:
    """The open round, this participant's ballot of it and its ratings (statement version
    -> value), in one statement: a press needs all three."""
    rows = (await session.execute(_OPEN_BALLOT, {
        "study_id": participant.study_id, "participant_id": participant.id})).all()
    if not rows:
        return None, None, {}
    round_, ballot = rows[0][0], rows[0][1]
    return round_, ballot, {version_id: value for _, _, version_id, value in rows
                            if version_id is not None}


async def _ensure_ballot(
    session: AsyncSession, round_: Round, participant_id: int, now: datetime,
    existing: Ballot | None = None,
) -> Ballot:
    """The participant's ballot of ``round_``, started now if there is none yet."""
    if existing is None:
        existing = await _ballot(session, round_, participant_id)
    if existing is not None:
        return existing
    await upsert(session, Ballot.__table__,
                 {"round_id": round_.id, "participant_id": participant_id, "started_at": now},
                 conflict=("round_id", "participant_id"))
    ballot = await _ballot(session, round_, participant_id)
    assert ballot is not None
    return ballot


def _progress(round_: Round, items: list[BallotItem], answers: dict[int, int | None],
              ballot: Ballot | None) -> Progress:
    return Progress(
        round=round_.number,
        total=len(items),
        answered=sum(1 for item in items if item.version_id in answers),
        unable=sum(1 for item in items if item.version_id in answers
                   and answers[item.version_id] is None),
        submitted_at=ballot.submitted_at if ballot else None,
        deadline=round_.deadline,
        first_unanswered=next((i for i in items if i.version_id not in answers), None),
        entries=tuple((item, answers.get(item.version_id), item.version_id in answers)
                      for item in items),
    )


async def _item(items: list[BallotItem], code: str, round_number: int) -> BallotItem:
    item = next((i for i in items if i.code == code), None)
    if item is None:
        raise NotOnBallot(f"Statement {code} is not on the ballot of round {round_number} "
                          "(it may have been dropped or revised). Send /ballot to continue.")
    return item


async def progress(session: AsyncSession, participant_id: int) -> Progress:
    """Where this participant stands in the open round."""
    participant = await get_participant(session, participant_id)
    current, ballot, given = await _open_ballot(session, participant)
    if current is None:
        raise RoundNotOpen("No round is open at the moment; you will get a message when "
                           "the next one opens.")
    return _progress(current, await ballot_items(session, current), given, ballot)


async def answers(session: AsyncSession, participant_id: int) -> list[Answer]:
    """The review: every item of the open round with (value, answered?)."""
    return list((await progress(session, participant_id)).entries)


async def item_at(session: AsyncSession, participant_id: int, position: int) -> BallotItem:
    """The statement at a position of the open round's ballot (for Back / review edits)."""
    participant = await get_participant(session, participant_id)
    current = await open_round_or_none(session, participant.study_id)
    if current is None:
        raise RoundNotOpen("No round is open at the moment.")
    items = await ballot_items(session, current)
    if not 1 <= position <= len(items):
        raise NotOnBallot(f"Round {current.number} has statements 1 to {len(items)}.")
    return items[position - 1]


async def record_rating(
    session: AsyncSession,
    participant_id: int,
    round_number: int | None,
    code: str,
    value: int | None,
    now: datetime,
) -> RatingReceipt:
    """Record (or replace) a rating; ``None`` means unable to rate."""
    participant = await get_participant(session, participant_id)
    ensure_active(participant)
    spec = await study_spec(session, participant.study_id)
    if value is None and not spec.scale.unable_to_rate:
        raise InvalidValue("This study does not offer \"unable to rate\"; choose a value.")
    if value is not None and not 1 <= value <= spec.scale.points:
        raise InvalidValue(f"Ratings go from 1 to {spec.scale.points}.")
    current, found, given = await _open_ballot(session, participant)
    current = await _rateable_round(session, participant.study_id, round_number, now,
                                    current)
    items = await ballot_items(session, current)
    item = await _item(items, code, current.number)
    ballot = await _ensure_ballot(session, current, participant.id, now, found)
    if ballot.submitted_at is not None:
        raise BallotSubmitted("You have submitted this round's ballot; choose \"Change "
                              "answers\" first if you want to change a rating.")
    replaced = item.version_id in given
    old_value = given.get(item.version_id)
    await upsert(
        session, Rating.__table__,
        {"ballot_id": ballot.id, "statement_version_id": item.version_id, "value": value,
         "created_at": now, "updated_at": now},
        conflict=("ballot_id", "statement_version_id"), update=("value", "updated_at"))
    given[item.version_id] = value
    return RatingReceipt(item, value, old_value, replaced,
                         _progress(current, items, given, ballot))


async def record_comment(
    session: AsyncSession,
    participant_id: int,
    round_number: int | None,
    code: str,
    text: str,
    now: datetime,
) -> BallotItem:
    """Store (or replace) this participant's comment on a statement of the open round."""
    text = text.strip()
    if not text:
        raise InvalidValue("The comment is empty; nothing was saved.")
    if len(text) > MAX_COMMENT_CHARS:
        raise InvalidValue(f"Comments can be at most {MAX_COMMENT_CHARS} characters (yours "
                           f"has {len(text)}); nothing was saved.")
    participant = await get_participant(session, participant_id)
    ensure_active(participant)
    current = await _rateable_round(session, participant.study_id, round_number, now,
                                    await open_round_or_none(session, participant.study_id))
    item = await _item(await ballot_items(session, current), code, current.number)
    ballot = await _ensure_ballot(session, current, participant.id, now)
    if ballot.submitted_at is not None:
        raise BallotSubmitted("You have submitted this round's ballot; choose \"Change "
                              "answers\" first if you want to add a comment.")
    await upsert(
        session, Comment.__table__,
        {"ballot_id": ballot.id, "statement_version_id": item.version_id, "text": text,
         "hidden": False, "created_at": now, "updated_at": now},
        conflict=("ballot_id", "statement_version_id"), update=("text", "updated_at"))
    return item


async def next_unanswered(session: AsyncSession, participant_id: int) -> BallotItem | None:
    """The first statement of the open round this participant has not answered."""
    participant = await get_participant(session, participant_id)
    ensure_active(participant)
    return (await progress(session, participant.id)).first_unanswered


async def submit_ballot(session: AsyncSession, participant_id: int, now: datetime) -> Progress:
    """Submit a complete ballot; submitting again changes nothing."""
    participant = await get_participant(session, participant_id)
    ensure_active(participant)
    current = await _rateable_round(session, participant.study_id, None, now,
                                    await open_round_or_none(session, participant.study_id))
    state = await progress(session, participant.id)
    if state.submitted_at is not None:
        return state
    if not state.complete:
        left = state.total - state.answered
        raise InvalidValue(f"{left} statement{'s are' if left != 1 else ' is'} still "
                           "unanswered; answer every statement before submitting.")
    await session.execute(update(Ballot).where(
        Ballot.round_id == current.id, Ballot.participant_id == participant.id,
        Ballot.submitted_at.is_(None)).values(submitted_at=now))
    return await progress(session, participant.id)


async def reopen_ballot(session: AsyncSession, participant_id: int, now: datetime) -> Progress:
    """Take a submitted ballot back so answers can change while the round is still open."""
    participant = await get_participant(session, participant_id)
    ensure_active(participant)
    current = await _rateable_round(session, participant.study_id, None, now,
                                    await open_round_or_none(session, participant.study_id))
    await session.execute(update(Ballot).where(
        Ballot.round_id == current.id, Ballot.participant_id == participant.id)
        .values(submitted_at=None))
    return await progress(session, participant.id)
