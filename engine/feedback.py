"""Anonymised feedback for a statement card: what the panel said last round.

Only aggregate numbers and comment texts leave this module: no pseudonym, no identity,
not even which comments came from the same person, so nothing can be linked.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.models import (
    Ballot,
    Comment,
    Rating,
    Round,
    RoundResult,
    Statement,
    StatementVersion,
)


@dataclass(frozen=True)
class Feedback:
    round: int                      # the round the feedback describes
    counts: dict[int, int]          # scale point -> number of experts
    n: int
    n_unable: int
    median: float | None
    q1: float | None
    q3: float | None
    pct_agree: float | None         # 0-100
    consensus: str
    own_rating: int | None
    own_rated: bool                 # False: the expert did not answer; True + None: unable
    comments: list[str]
    previous_text: str | None       # set when the statement was revised since
    change_note: str | None


async def previous_round(session: AsyncSession, study_id: str, number: int) -> Round | None:
    if number <= 1:
        return None
    return await session.scalar(select(Round).where(
        Round.study_id == study_id, Round.number == number - 1, Round.status == "closed"))


async def statement_feedback(
    session: AsyncSession, participant_id: int, study_id: str, round_number: int, code: str,
    current_version_id: int,
) -> Feedback | None:
    """Feedback from round ``round_number - 1`` on statement ``code``, if it was rated then."""
    before = await previous_round(session, study_id, round_number)
    if before is None:
        return None
    row = (await session.execute(
        select(RoundResult, StatementVersion)
        .join(StatementVersion, StatementVersion.id == RoundResult.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(RoundResult.round_id == before.id, Statement.code == code,
               Statement.study_id == study_id))).first()
    if row is None:
        return None
    result, old_version = row
    own_ballot = select(Ballot.id).where(Ballot.round_id == before.id,
                                         Ballot.participant_id == participant_id)
    own = (await session.execute(select(Rating.value).where(
        Rating.ballot_id.in_(own_ballot),
        Rating.statement_version_id == old_version.id))).first()
    comments = (await session.scalars(
        select(Comment.text).join(Ballot, Ballot.id == Comment.ballot_id)
        .where(Ballot.round_id == before.id, Comment.statement_version_id == old_version.id,
               Comment.hidden.is_(False), Ballot.participant_id != participant_id)
        .order_by(Comment.text))).all()
    revised = old_version.id != current_version_id
    current = await session.get(StatementVersion, current_version_id) if revised else None
    details = result.details or {}
    return Feedback(
        round=before.number,
        counts={int(k): int(v) for k, v in details.get("counts", {}).items()},
        n=result.n,
        n_unable=result.n_unable,
        median=result.median,
        q1=result.q1,
        q3=result.q3,
        pct_agree=result.pct_agree,
        consensus=result.consensus,
        own_rating=own[0] if own else None,
        own_rated=own is not None,
        comments=list(comments),
        previous_text=old_version.text if revised else None,
        change_note=current.change_note if current is not None else None,
    )
