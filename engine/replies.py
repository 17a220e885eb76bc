"""Which comment an expert may answer: one shown to them in this round's feedback.

A reply is anonymous both ways: the expert answers a text, never a person, and this
check says only "you cannot reply to that", whatever the reason, so it cannot be used
to learn who wrote what.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.errors import InvalidValue, Step
from engine.models import Ballot, Comment, Round, Statement, StatementVersion
from engine.standing import Standing

CANNOT_REPLY = ("You cannot reply to that comment (it may have been hidden, or you have "
                "answered it already). Send ", Step("ballot"), " to continue.")


@dataclass(frozen=True)
class Answerable:
    code: str  # the statement the comment is on
    text: str


async def answerable(session: AsyncSession, expert: Standing, study_id: str,
                     round_number: int, comment_id: int) -> Answerable:
    """The comment ``comment_id`` if ``expert`` may answer it now: a visible comment or
    reason written by someone else in the previous round, not yet answered by them."""
    row = (await session.execute(
        select(Statement.code, Comment.text, Comment.kind, Comment.hidden,
               Ballot.participant_id, Round.number)
        .join(Ballot, Ballot.id == Comment.ballot_id)
        .join(Round, Round.id == Ballot.round_id)
        .join(StatementVersion, StatementVersion.id == Comment.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(Comment.id == comment_id, Round.study_id == study_id))).first()
    if (row is None or row.kind == "reply" or row.hidden or row.participant_id == expert.id
            or row.number != round_number - 1):
        raise InvalidValue(*CANNOT_REPLY)
    if expert.ballot_id is not None and await session.scalar(
            select(Comment.id).where(Comment.ballot_id == expert.ballot_id,
                                     Comment.reply_to == comment_id)) is not None:
        raise InvalidValue(*CANNOT_REPLY)
    return Answerable(str(row.code), str(row.text))
