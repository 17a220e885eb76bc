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

from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.ballots import BallotItem
from engine.models import (
    Ballot,
    Comment,
    Participant,
    Rating,
    Round,
    RoundResult,
    Statement,
    StatementVersion,
    round_status_is,
)
from engine.statement_statistics import StatementStatistics

# A group with fewer valid ratings than this has no figures of its own on a card, so no
# one in a small group can be singled out.
MIN_GROUP_SHOWN = 3


@dataclass(frozen=True)
class Shown:
    """A comment or reason as another expert sees it: its text, whether it explains an
    outlying rating, and the id a Reply button answers (never who wrote it)."""

    id: int
    text: str
    reason: bool = False


@dataclass(frozen=True)
class Thread:
    """An earlier comment with the anonymous replies written to it last round."""

    text: str
    replies: tuple[str, ...]


@dataclass(frozen=True)
class GroupFigures:
    """One stakeholder group's ratings of the statement last round; ``counts`` and
    ``median`` are None when the group is too small to show."""

    group: str
    n: int
    median: float | None
    counts: dict[int, int] | None


@dataclass(frozen=True)
class Feedback:
    """What an expert's card shows of the statement's previous round."""

    statistics: StatementStatistics  # the round the feedback describes, as stored then
    own_rating: int | None
    own_rated: bool                 # False: the expert did not answer; True + None: unable
    comments: list[str]
    previous_text: str | None       # set when the statement was revised since
    change_note: str | None
    shown: list[Shown] = field(default_factory=list)     # comments and reasons, with ids
    threads: list[Thread] = field(default_factory=list)  # replies written last round
    groups: list[GroupFigures] = field(default_factory=list)  # with [feedback] by_group


@dataclass(frozen=True)
class _Closed:
    """What a closed round fixed about one statement: the same on every expert's card."""

    round_id: int
    version_id: int
    text: str
    statistics: StatementStatistics


# Core tables, not ORM entities, for the queries that run for every card from round 2 on;
# the closed round's result is read once per database (the memo), as the stored row.
_ROUNDS, _RESULTS = Round.__table__, RoundResult.__table__
_VERSIONS, _STATEMENTS = StatementVersion.__table__, Statement.__table__
_BALLOTS, _RATINGS, _COMMENTS = Ballot.__table__, Rating.__table__, Comment.__table__
_CLOSED = (
    select(_ROUNDS.c.id, _ROUNDS.c.number, _VERSIONS.c.id, _VERSIONS.c.version,
           _VERSIONS.c.text, RoundResult)
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
_PARENTS = _COMMENTS.alias("parent")
# Everything others wrote on the statement last round, in one statement: comments,
# reasons, and replies with the text of the comment each answers (hidden ones left out).
_OTHERS_COMMENTS = (
    select(_COMMENTS.c.id, _COMMENTS.c.kind, _COMMENTS.c.text, _PARENTS.c.id,
           _PARENTS.c.text)
    .select_from(_COMMENTS.join(_BALLOTS, _BALLOTS.c.id == _COMMENTS.c.ballot_id)
                 .outerjoin(_PARENTS, _PARENTS.c.id == _COMMENTS.c.reply_to))
    .where(_BALLOTS.c.round_id == bindparam("round_id"),
           _COMMENTS.c.statement_version_id == bindparam("version_id"),
           _COMMENTS.c.hidden.is_(False),
           _PARENTS.c.hidden.is_not(True),
           _BALLOTS.c.participant_id != bindparam("participant_id"))
    .order_by(_COMMENTS.c.text, _COMMENTS.c.id))
_PARTICIPANTS = Participant.__table__
_GROUP_COUNTS = (
    select(_PARTICIPANTS.c.stakeholder_group, _RATINGS.c.value, func.count())
    .select_from(_RATINGS.join(_BALLOTS, _BALLOTS.c.id == _RATINGS.c.ballot_id)
                 .join(_PARTICIPANTS, _PARTICIPANTS.c.id == _BALLOTS.c.participant_id))
    .where(_BALLOTS.c.round_id == bindparam("round_id"),
           _RATINGS.c.statement_version_id == bindparam("version_id"),
           _RATINGS.c.value.is_not(None))
    .group_by(_PARTICIPANTS.c.stakeholder_group, _RATINGS.c.value))


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
    round_id, round_number, version_id, version, text, result = row
    found = _Closed(round_id, version_id, text,
                    StatementStatistics.from_row(result, round_number, code, version))
    if memo is not None:
        memo[key] = found
    return found


def _median(counts: dict[int, int]) -> float | None:
    values = sorted(v for v, c in counts.items() for _ in range(c))
    if not values:
        return None
    middle = len(values) // 2
    return float(values[middle]) if len(values) % 2 else (values[middle - 1]
                                                          + values[middle]) / 2


async def group_figures(session: AsyncSession, groups: list[str], round_id: int,
                        version_id: int) -> list[GroupFigures]:
    """Each stakeholder group's distribution and median on a closed round's statement.

    A closed round never changes, so this is read once per database. Only counts leave
    here, and a group of fewer than :data:`MIN_GROUP_SHOWN` valid ratings shows none.
    """
    memo = session.info.get("memo")
    key = ("group_figures", round_id, version_id)
    if memo is not None and key in memo:
        cached: list[GroupFigures] = memo[key]
        return cached
    counts: dict[str, dict[int, int]] = {group: {} for group in groups}
    for group, value, count in (await session.execute(
            _GROUP_COUNTS, {"round_id": round_id, "version_id": version_id})).all():
        if group in counts:
            counts[group][int(value)] = int(count)
    figures = []
    for group in groups:
        n = sum(counts[group].values())
        shown = n >= MIN_GROUP_SHOWN
        figures.append(GroupFigures(group, n, _median(counts[group]) if shown else None,
                                    dict(counts[group]) if shown else None))
    if memo is not None:
        memo[key] = figures
    return figures


@dataclass(frozen=True)
class Outlying:
    """Why a rating calls for a reason: the panel's middle half last round, and (with
    "changed") the expert's own previous rating."""

    q1: float
    q3: float
    previous: int | None = None


async def outlying(session: AsyncSession, participant_id: int, study_id: str,
                   item: BallotItem, value: int | None, mode: str) -> Outlying | None:
    """Whether ``value`` on ``item`` asks for a reason under ``[feedback] ask_reason``.

    "outside_iqr": outside the previous round's interquartile range of the statement;
    "changed": 2 or more points from the expert's own rating last round. Round 1, unable
    to rate, and statements not rated last round never ask. The previous round's result
    comes from the memo, so "outside_iqr" costs the press no statement.
    """
    if mode == "off" or value is None or item.round <= 1:
        return None
    closed = await _closed(session, study_id, item.round - 1, item.code)
    if closed is None:
        return None
    q1, q3 = closed.statistics.q1, closed.statistics.q3
    if q1 is None or q3 is None:
        return None
    if mode == "outside_iqr":
        return Outlying(q1, q3) if value < q1 or value > q3 else None
    own = (await session.execute(_OWN_RATING, {
        "round_id": closed.round_id, "participant_id": participant_id,
        "version_id": closed.version_id})).scalar()
    if own is None or abs(value - own) < 2:
        return None
    return Outlying(q1, q3, int(own))


async def statement_feedback(session: AsyncSession, participant_id: int, study_id: str,
                             item: BallotItem, groups: list[str] | None = None
                             ) -> Feedback | None:
    """Feedback from round ``item.round - 1`` on the item's statement, if rated then;
    with ``groups`` (``[feedback] by_group``), each group's figures too."""
    if item.round <= 1:
        return None
    closed = await _closed(session, study_id, item.round - 1, item.code)
    if closed is None:
        return None
    mine = {"round_id": closed.round_id, "participant_id": participant_id,
            "version_id": closed.version_id}
    own = (await session.execute(_OWN_RATING, mine)).first()
    shown: list[Shown] = []
    threads: dict[int, tuple[str, list[str]]] = {}
    for comment_id, kind, text, parent_id, parent_text in (
            await session.execute(_OTHERS_COMMENTS, mine)).all():
        if kind == "reply":
            if parent_id is not None:
                threads.setdefault(parent_id, (parent_text, []))[1].append(text)
        else:
            shown.append(Shown(comment_id, text, kind == "reason"))
    revised = closed.version_id != item.version_id
    figures = (await group_figures(session, groups, closed.round_id, closed.version_id)
               if groups else [])
    return Feedback(
        statistics=closed.statistics,
        own_rating=own[0] if own else None,
        own_rated=own is not None,
        comments=[c.text for c in shown],
        previous_text=closed.text if revised else None,
        change_note=item.change_note if revised else None,
        shown=shown,
        threads=[Thread(text, tuple(replies))
                 for _, (text, replies) in sorted(threads.items())],
        groups=figures,
    )
