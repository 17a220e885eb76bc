"""CSV exports for the paper and for re-analysis. Pseudonyms only, never identities.

``ratings.csv`` is exactly the input format of ``delphi analyze``
(``round,statement,participant,rating,group``; an empty rating means unable to rate),
so anyone can recompute every published number from it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from engine.models import (
    Ballot,
    Comment,
    Participant,
    Round,
    RoundResult,
    Statement,
    StatementVersion,
)


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return buffer.getvalue()


async def ratings_csv(session: AsyncSession, study_id: str) -> str:
    """The ``delphi analyze`` input: revised wordings appear as ``S05.v2`` (a new question)."""
    from engine.conclusion import ratings_frame

    frame = await ratings_frame(session, study_id)
    return str(frame.to_csv(index=False, lineterminator="\n", na_rep=""))


async def statements_csv(session: AsyncSession, study_id: str) -> str:
    previous = aliased(StatementVersion)
    rows = (await session.execute(
        select(Statement.code, StatementVersion.version, StatementVersion.created_for_round,
               Statement.domain, StatementVersion.text, previous.version,
               StatementVersion.change_note, Statement.added_in_round,
               Statement.dropped_in_round, Statement.drop_reason)
        .join(StatementVersion, StatementVersion.statement_id == Statement.id)
        .outerjoin(previous, previous.id == StatementVersion.revised_from_id)
        .where(Statement.study_id == study_id)
        .order_by(Statement.position, StatementVersion.version))).all()
    return _csv(("statement", "version", "first_round", "domain", "text", "revised_from_version",
                 "change_note", "added_in_round", "dropped_in_round", "drop_reason"), rows)


async def comments_csv(session: AsyncSession, study_id: str) -> str:
    rows = (await session.execute(
        select(Round.number, Statement.code, StatementVersion.version, Participant.pseudonym,
               Comment.text, Comment.hidden)
        .join(Ballot, Ballot.id == Comment.ballot_id)
        .join(Round, Round.id == Ballot.round_id)
        .join(Participant, Participant.id == Ballot.participant_id)
        .join(StatementVersion, StatementVersion.id == Comment.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(Round.study_id == study_id)
        .order_by(Round.number, Statement.position, Participant.pseudonym))).all()
    return _csv(("round", "statement", "version", "participant", "comment", "hidden"),
                [(*row[:5], "yes" if row[5] else "no") for row in rows])


async def results_csv(session: AsyncSession, study_id: str) -> str:
    rows = (await session.execute(
        select(Round.number, Statement.code, RoundResult.n, RoundResult.n_unable,
               RoundResult.median, RoundResult.q1, RoundResult.q3, RoundResult.iqr,
               RoundResult.pct_agree, RoundResult.pct_disagree, RoundResult.consensus,
               RoundResult.reason)
        .join(Round, Round.id == RoundResult.round_id)
        .join(StatementVersion, StatementVersion.id == RoundResult.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(Round.study_id == study_id)
        .order_by(Round.number, Statement.position))).all()
    return _csv(("round", "statement", "n", "n_unable", "median", "q1", "q3", "iqr",
                 "pct_agree", "pct_disagree", "consensus", "reason"), rows)


async def export_tables(session: AsyncSession, study_id: str) -> dict[str, str]:
    """Every export as ``{file name: CSV text}``."""
    return {
        "ratings.csv": await ratings_csv(session, study_id),
        "statements.csv": await statements_csv(session, study_id),
        "comments.csv": await comments_csv(session, study_id),
        "results.csv": await results_csv(session, study_id),
    }
