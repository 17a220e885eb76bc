"""The round lifecycle: draft -> open -> closed, enforced here and nowhere else.

Round N+1 exists as a *draft* between rounds: that is where revisions, drops and
additions go, so the round being rated is never changed under the experts' thumbs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from engine.db import in_one_trip
from engine.errors import (
    InvalidValue,
    NoMoreRounds,
    RoundAlreadyOpen,
    RoundClosed,
    RoundNotOpen,
)
from engine.loading import get_study, study_file_of
from engine.models import (
    ROUND_STATUSES,
    Ballot,
    Participant,
    Rating,
    Round,
    RoundItem,
    RoundResult,
    Statement,
    StatementVersion,
    round_status_is,
)
from engine.statement_statistics import StatementStatistics

# Built once per status: these lookups are frequent (see engine.db.upsert), and the
# status is written into the SQL (see engine.models.round_status_is).
_ROUND_BY_STATUS = {status: select(Round)
                    .where(Round.study_id == bindparam("study_id"), round_status_is(status))
                    .order_by(Round.number.desc())
                    for status in ROUND_STATUSES}


async def round_by_status(session: AsyncSession, study_id: str, status: str) -> Round | None:
    return await session.scalar(_ROUND_BY_STATUS[status], {"study_id": study_id})


async def status_of(session: AsyncSession, study_id: str, number: int) -> str | None:
    """Round ``number``'s status (draft, open, closed); None when there is no such round."""
    return await session.scalar(select(Round.status).where(
        Round.study_id == study_id, Round.number == number))


async def open_round_or_none(session: AsyncSession, study_id: str) -> Round | None:
    return await round_by_status(session, study_id, "open")


async def open_round_deadline(session: AsyncSession,
                              study_id: str) -> tuple[int, datetime | None] | None:
    """The open round's id and deadline, read without loading the round: what an
    /extend is based on, to be compared again once the study is locked."""
    row = (await session.execute(select(Round.id, Round.deadline).where(
        Round.study_id == study_id, round_status_is("open")))).first()
    return (row[0], row[1]) if row is not None else None


async def latest_round(session: AsyncSession, study_id: str) -> Round | None:
    return await session.scalar(select(Round).where(Round.study_id == study_id)
                                .order_by(Round.number.desc()))


async def verdicts(session: AsyncSession, study_id: str, number: int) -> dict[int, str]:
    """Round ``number``'s consensus class of each statement version it concluded (empty
    when that round has no results)."""
    return dict((await session.execute(
        select(RoundResult.statement_version_id, RoundResult.consensus)
        .join(Round, Round.id == RoundResult.round_id)
        .where(Round.study_id == study_id, Round.number == number))).all())


async def stored_statistics(session: AsyncSession, study_id: str, number: int
                            ) -> list[StatementStatistics]:
    """The statistics round ``number`` stored when it closed, one per statement."""
    rows = (await session.execute(
        select(Statement.code, StatementVersion.version, RoundResult)
        .join(Round, Round.id == RoundResult.round_id)
        .join(StatementVersion, StatementVersion.id == RoundResult.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(Round.study_id == study_id, Round.number == number)
        .order_by(Statement.position))).all()
    return [StatementStatistics.from_row(row, number, code, version)
            for code, version, row in rows]


async def open_round(
    session: AsyncSession,
    study_id: str,
    now: datetime,
    deadline: datetime | None = None,
    number: int | None = None,
) -> Round:
    """Open the next (draft) round; round 1 freezes the pre-registered protocol."""
    study = await get_study(session, study_id)
    spec = study_file_of(study)
    current = await open_round_or_none(session, study_id)
    if current is not None:
        raise RoundAlreadyOpen(
            f"Round {current.number} is already open; close it before opening another.")
    if number is not None:
        wanted = await session.scalar(select(Round).where(
            Round.study_id == study_id, Round.number == number))
        if wanted is not None and wanted.status == "closed":
            raise RoundClosed(f"Round {number} is closed and cannot be reopened.")
    draft = await round_by_status(session, study_id, "draft")
    if draft is None or (number is not None and draft.number != number):
        raise NoMoreRounds(_no_draft_reason(spec.study.max_rounds, number))
    items = await session.scalar(select(func.count()).select_from(RoundItem)
                                 .where(RoundItem.round_id == draft.id))
    if not items:
        raise NoMoreRounds(f"Round {draft.number} has no statements to rate; add or revise "
                           "statements first.")
    deadline = deadline or now + timedelta(days=spec.schedule.round_days)
    if deadline <= now:
        raise InvalidValue("The deadline must be in the future.")
    # Conditional, so that of two openings only one succeeds even without the study lock.
    opened = await session.execute(
        update(Round).where(Round.id == draft.id, round_status_is("draft"))
        .values(status="open", opened_at=now, deadline=deadline)
        .execution_options(synchronize_session=False))
    if not getattr(opened, "rowcount", 0):
        raise RoundAlreadyOpen(f"Round {draft.number} is already open; nothing was changed.")
    _stored(draft, status="open", opened_at=now, deadline=deadline)
    if draft.number == 1 and study.protocol_frozen_at is None:
        study.protocol_frozen_at = now
    await session.flush()
    return draft


def _stored(round_: Round, **values: object) -> None:
    """Tell the loaded object what the conditional update just wrote (without writing
    it a second time)."""
    for name, value in values.items():
        set_committed_value(round_, name, value)


def _no_draft_reason(max_rounds: int, number: int | None) -> str:
    if number is not None:
        return f"Round {number} is not the next round to open."
    return (f"There is no further round to open: the study has run its rounds (at most "
            f"{max_rounds}) or every statement is resolved.")


@dataclass(frozen=True)
class RatingRow:
    """One rating as the statistics see it: pseudonymous, NULL value = unable to rate."""

    round: int
    statement: str
    participant: str
    rating: int | None
    group: str | None


@dataclass(frozen=True)
class ClosedRound:
    """The round just closed. Its ratings are not read here: the conclusion reads them
    once, in the form the statistics take (``round_ratings`` gives them as rows)."""

    round: Round
    panel_size: int


async def round_ratings(session: AsyncSession, round_: Round) -> list[RatingRow]:
    rows = await session.execute(
        select(Statement.code, Participant.pseudonym, Rating.value,
               Participant.stakeholder_group)
        .join(Ballot, Ballot.id == Rating.ballot_id)
        .join(Participant, Participant.id == Ballot.participant_id)
        .join(StatementVersion, StatementVersion.id == Rating.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(Ballot.round_id == round_.id)
        .order_by(Statement.position, Participant.pseudonym)
    )
    return [RatingRow(round_.number, code, pseudonym, value, group)
            for code, pseudonym, value, group in rows]


async def panel_size(session: AsyncSession, round_: Round) -> int:
    """Participants expected to rate this round: active now, or holding a ballot in it."""
    has_ballot = select(Ballot.participant_id).where(Ballot.round_id == round_.id)
    count = await session.scalar(
        select(func.count()).select_from(Participant).where(
            Participant.study_id == round_.study_id,
            or_(Participant.status == "active", Participant.id.in_(has_ballot))))
    return count or 0


async def ballot_counts(session: AsyncSession, round_id: int) -> tuple[int, int]:
    """Ballots submitted and ballots started in a round, counted in one query."""
    submitted, started = (await session.execute(
        select(func.count(Ballot.submitted_at), func.count()).where(
            Ballot.round_id == round_id))).one()
    return int(submitted), int(started)


async def round_statement_codes(session: AsyncSession, round_id: int) -> list[str]:
    rows = await session.scalars(
        select(Statement.code)
        .join(StatementVersion, StatementVersion.statement_id == Statement.id)
        .join(RoundItem, RoundItem.statement_version_id == StatementVersion.id)
        .where(RoundItem.round_id == round_id).order_by(RoundItem.position))
    return list(rows)


async def close_round(session: AsyncSession, study_id: str, now: datetime) -> ClosedRound:
    """Close the open round and return what the statistics need. Closing twice is refused."""
    current = await open_round_or_none(session, study_id)
    if current is None:
        raise RoundNotOpen("No round is open, so there is nothing to close.")
    closed = await session.execute(
        update(Round).where(Round.id == current.id, round_status_is("open"))
        .values(status="closed", closed_at=now).execution_options(synchronize_session=False))
    if not getattr(closed, "rowcount", 0):  # closed by someone else meanwhile
        raise RoundNotOpen(f"Round {current.number} was already closed; nothing was changed.")
    _stored(current, status="closed", closed_at=now)
    return ClosedRound(round=current, panel_size=await panel_size(session, current))


def _latest_versions_query(*columns: Any) -> Select[Any]:
    """The newest version of every statement not dropped, in the study's order."""
    newest = (select(StatementVersion.statement_id,
                     func.max(StatementVersion.version).label("version"))
              .group_by(StatementVersion.statement_id).subquery())
    return (select(*columns)
            .join(StatementVersion, StatementVersion.statement_id == Statement.id)
            .join(newest, (newest.c.statement_id == StatementVersion.statement_id)
                  & (newest.c.version == StatementVersion.version))
            .where(Statement.study_id == bindparam("study_id"),
                   Statement.dropped_in_round.is_(None))
            .order_by(Statement.position))


# (code, version id) of the newest versions, in the study's order.
_LATEST_VERSION_IDS = _latest_versions_query(Statement.code, StatementVersion.id)


async def latest_versions(session: AsyncSession, study_id: str) -> dict[str, StatementVersion]:
    """The newest version of every statement that has not been dropped, by code."""
    rows = await session.execute(_latest_versions_query(Statement.code, StatementVersion),
                                 {"study_id": study_id})
    return {code: version for code, version in rows}


async def set_round_items(
    session: AsyncSession, round_: Round, versions: Iterable[StatementVersion]
) -> None:
    """Replace a draft round's ballot, ordered by the statements' study order."""
    await session.execute(delete(RoundItem).where(RoundItem.round_id == round_.id))
    await session.flush()
    ordered = list(versions)
    positions = {}
    if ordered:
        positions = dict((await session.execute(
            select(Statement.id, Statement.position).where(
                Statement.id.in_({v.statement_id for v in ordered})))).all())
    ordered.sort(key=lambda v: positions[v.statement_id])
    if ordered:  # one statement for every item: a close prepares the next round in its lock
        await session.execute(insert(RoundItem), [
            {"round_id": round_.id, "statement_version_id": v.id, "position": i}
            for i, v in enumerate(ordered, start=1)])


async def prepare_next_round(
    session: AsyncSession, study_id: str, carry: Iterable[str]
) -> Round | None:
    """Create the next draft round holding the statements to rate again (by code).

    Returns None when the study has used all its rounds or nothing is left to rate.
    A close calls this inside its write transaction, so the ballot is read as plain rows
    and written in one statement (the draft is new: it has no items to replace).
    """
    study = await get_study(session, study_id)
    spec = study_file_of(study)
    last = await latest_round(session, study_id)
    if last is None or last.status != "closed" or last.number >= spec.study.max_rounds:
        return None
    latest: dict[str, int] = dict(await in_one_trip(session, lambda connection: (
        connection.execute(_LATEST_VERSION_IDS, {"study_id": study_id}).all())))
    wanted = set(carry)
    versions = [version_id for code, version_id in latest.items() if code in wanted]
    if not versions:
        return None
    draft = Round(study_id=study_id, number=last.number + 1, status="draft")
    session.add(draft)
    await session.flush()
    items = [{"round_id": draft.id, "statement_version_id": version_id, "position": i}
             for i, version_id in enumerate(versions, start=1)]
    await in_one_trip(session, lambda connection: connection.execute(
        insert(RoundItem), items))
    return draft
