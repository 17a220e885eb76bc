"""How many ratings lay away from the panel, and how many of those were explained.

An outlying rating is what ``[feedback] ask_reason`` asks a reason for: from round 2, a
rating outside the previous round's interquartile range of the statement
("outside_iqr"), or 2 or more points from the expert's own previous rating
("changed"). Counted for the report, per statement and round; only numbers leave here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.models import Ballot, Comment, Rating, Round, RoundResult, StatementVersion


@dataclass(frozen=True)
class Outlying:
    round: int
    outlying: int
    explained: int


async def outlying_counts(session: AsyncSession, study_id: str, mode: str
                          ) -> dict[int, list[Outlying]]:
    """statement id -> one :class:`Outlying` per round from 2 on with any outlying rating."""
    if mode == "off":
        return {}
    ratings = (await session.execute(
        select(Round.number, StatementVersion.statement_id, Ballot.participant_id,
               Rating.value, Ballot.id, Rating.statement_version_id)
        .join(Ballot, Ballot.id == Rating.ballot_id)
        .join(Round, Round.id == Ballot.round_id)
        .join(StatementVersion, StatementVersion.id == Rating.statement_version_id)
        .where(Round.study_id == study_id, Rating.value.is_not(None)))).all()
    bands = {(number, statement_id): (q1, q3) for number, statement_id, q1, q3 in (
        await session.execute(
            select(Round.number, StatementVersion.statement_id, RoundResult.q1,
                   RoundResult.q3)
            .join(Round, Round.id == RoundResult.round_id)
            .join(StatementVersion, StatementVersion.id == RoundResult.statement_version_id)
            .where(Round.study_id == study_id))).all()}
    reasons = set((await session.execute(
        select(Comment.ballot_id, Comment.statement_version_id)
        .join(Ballot, Ballot.id == Comment.ballot_id)
        .join(Round, Round.id == Ballot.round_id)
        .where(Round.study_id == study_id, Comment.kind == "reason"))).all())
    own = {(number, statement_id, who): value
           for number, statement_id, who, value, _, _ in ratings}
    tally: dict[tuple[int, int], list[int]] = {}
    for number, statement_id, who, value, ballot_id, version_id in ratings:
        if number < 2 or value is None:
            continue
        if mode == "changed":
            before = own.get((number - 1, statement_id, who))
            away = before is not None and abs(value - before) >= 2
        else:
            q1, q3 = bands.get((number - 1, statement_id), (None, None))
            away = q1 is not None and q3 is not None and (value < q1 or value > q3)
        if away:
            counts = tally.setdefault((statement_id, number), [0, 0])
            counts[0] += 1
            counts[1] += (ballot_id, version_id) in reasons
    found: dict[int, list[Outlying]] = {}
    for (statement_id, number), (outlying, explained) in sorted(tally.items()):
        found.setdefault(statement_id, []).append(Outlying(number, outlying, explained))
    return found
