"""Anonymised feedback for a statement card: what the panel said last round.

Only aggregate numbers and comment texts leave this module: no pseudonym, no identity,
not even which comments came from the same person, so nothing can be linked.

From round 2 on this is read for every card, so on every press. A closed round's
results never change, so what every expert's card shows of them (the statistics and the
wording rated then) is read once per database and kept in the store's memo; only the
expert's own rating and the comments, which a coordinator may hide at any time, are
read for each card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.ballots import BallotItem
from engine.models import (
    Ballot,
    Comment,
    Rating,
    Round,
    RoundResult,
    Statement,
    StatementVersion,
    round_status_is,
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


@dataclass(frozen=True)
class _Closed:
    """What a closed round fixed about one statement: the same on every expert's card."""

    round_id: int
    round: int
    version_id: int
    text: str
    result: tuple[Any, ...]  # n, n_unable, median, q1, q3, pct_agree, consensus, details


# Core tables, not ORM entities: these run for every card from round 2 on.
_ROUNDS, _RESULTS = Round.__table__, RoundResult.__table__
_VERSIONS, _STATEMENTS = StatementVersion.__table__, Statement.__table__
_BALLOTS, _RATINGS, _COMMENTS = Ballot.__table__, Rating.__table__, Comment.__table__
_CLOSED = (
    select(_ROUNDS.c.id, _ROUNDS.c.number, _VERSIONS.c.id, _VERSIONS.c.text, _RESULTS.c.n,
           _RESULTS.c.n_unable, _RESULTS.c.median, _RESULTS.c.q1, _RESULTS.c.q3,
           _RESULTS.c.pct_agree, _RESULTS.c.consensus, _RESULTS.c.details)
    .select_from(_ROUNDS.join(_RESULTS, _RESULTS.c.round_id == _ROUNDS.c.id)
                 .join(_VERSIONS, _VERSIONS.c.id == _RESULTS.c.statement_version_id)
                 .join(_STATEMENTS, _STATEMENTS.c.id == _VERSIONS.c.statement_id))
    .where(_ROUNDS.c.study_id == bindparam("study_id"),
           _ROUNDS.c.number == bindparam("number"), round_status_is("closed"),
           _STATEMENTS.c.study_id == bindparam("study_id"),
           _STATEMENTS.c.code == bindparam("code")))
_OWN_RATING = (
    select(_RATINGS.c.value)
    .select_from(_RATINGS.join(_BALLOTS, _BALLOTS.c.id == _RATINGS.c.ballot_id))
    .where(_BALLOTS.c.round_id == bindparam("round_id"),
           _BALLOTS.c.participant_id == bindparam("participant_id"),
           _RATINGS.c.statement_version_id == bindparam("version_id")))
_OTHERS_COMMENTS = (
    select(_COMMENTS.c.text)
    .select_from(_COMMENTS.join(_BALLOTS, _BALLOTS.c.id == _COMMENTS.c.ballot_id))
    .where(_BALLOTS.c.round_id == bindparam("round_id"),
           _COMMENTS.c.statement_version_id == bindparam("version_id"),
           _COMMENTS.c.hidden.is_(False),
           _BALLOTS.c.participant_id != bindparam("participant_id"))
    .order_by(_COMMENTS.c.text))


async def _closed(session: AsyncSession, study_id: str, number: int, code: str
                  ) -> _Closed | None:
    """Round ``number``'s result on ``code``, if that round is closed and rated it."""
    memo = session.info.get("memo")
    key = ("closed_result", study_id, number, code)
    if memo is not None and key in memo:
        cached: _Closed = memo[key]
        return cached
    row = (await session.execute(_CLOSED, {"study_id": study_id, "number": number,
                                           "code": code})).first()
    if row is None:  # not closed yet, or not on that round: may change, so not kept
        return None
    found = _Closed(row[0], row[1], row[2], row[3], tuple(row[4:]))
    if memo is not None:
        memo[key] = found
    return found


async def statement_feedback(session: AsyncSession, participant_id: int, study_id: str,
                             item: BallotItem) -> Feedback | None:
    """Feedback from round ``item.round - 1`` on the item's statement, if rated then."""
    if item.round <= 1:
        return None
    closed = await _closed(session, study_id, item.round - 1, item.code)
    if closed is None:
        return None
    mine = {"round_id": closed.round_id, "participant_id": participant_id,
            "version_id": closed.version_id}
    own = (await session.execute(_OWN_RATING, mine)).first()
    comments = (await session.scalars(_OTHERS_COMMENTS, mine)).all()
    n, n_unable, median, q1, q3, pct_agree, consensus, details = closed.result
    revised = closed.version_id != item.version_id
    return Feedback(
        round=closed.round,
        counts={int(k): int(v) for k, v in (details or {}).get("counts", {}).items()},
        n=n,
        n_unable=n_unable,
        median=median,
        q1=q1,
        q3=q3,
        pct_agree=pct_agree,
        consensus=consensus,
        own_rating=own[0] if own else None,
        own_rated=own is not None,
        comments=list(comments),
        previous_text=closed.text if revised else None,
        change_note=item.change_note if revised else None,
    )
