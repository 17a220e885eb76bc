"""Comment moderation: the coordinator reads a round's comments and hides one.

Hidden comments are never fed back to experts (:mod:`engine.feedback` filters them)
but stay in ``comments.csv``, marked, so the moderation itself is on the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.errors import NotFound
from engine.models import Ballot, Comment, Round, Statement, StatementVersion


@dataclass(frozen=True)
class ListedComment:
    id: int
    round: int
    code: str
    version: int
    text: str
    hidden: bool
    kind: str = "comment"  # comment, reason or reply
    reply_to: int | None = None


def _query(study_id: str) -> Any:
    """A Select of (id, round, code, version, text, hidden, kind, reply_to)."""
    return (select(Comment.id, Round.number, Statement.code, StatementVersion.version,
                   Comment.text, Comment.hidden, Comment.kind, Comment.reply_to)
            .join(Ballot, Ballot.id == Comment.ballot_id)
            .join(Round, Round.id == Ballot.round_id)
            .join(StatementVersion, StatementVersion.id == Comment.statement_version_id)
            .join(Statement, Statement.id == StatementVersion.statement_id)
            .where(Round.study_id == study_id))


def _listed(row: Any) -> ListedComment:
    comment_id, number, code, version, text, hidden, kind, reply_to = row
    return ListedComment(int(comment_id), int(number), str(code), int(version), str(text),
                         bool(hidden), str(kind), reply_to)


async def moderation_round(session: AsyncSession, study_id: str) -> Round | None:
    """The round whose comments go out next: the open one, else the latest closed one."""
    for status in ("open", "closed"):
        found = await session.scalar(select(Round).where(
            Round.study_id == study_id, Round.status == status).order_by(Round.number.desc()))
        if found is not None:
            return found
    return None


async def list_comments(session: AsyncSession, study_id: str,
                        round_number: int) -> list[ListedComment]:
    """Every comment of one round (hidden ones too), in statement order; no pseudonyms."""
    rows = (await session.execute(_query(study_id).where(Round.number == round_number)
                                  .order_by(Statement.position, Comment.id))).all()
    return [_listed(row) for row in rows]


async def set_hidden(session: AsyncSession, study_id: str, comment_id: int,
                     hidden: bool) -> ListedComment:
    """Hide (or show again) one comment of this study; refuses ids of other studies."""
    row = (await session.execute(_query(study_id).where(Comment.id == comment_id))).first()
    if row is None:
        raise NotFound(f"There is no comment #{comment_id} in this study; /comments lists "
                       "them.")
    comment = await session.get(Comment, comment_id)
    if comment is None:  # pragma: no cover - found just above
        raise NotFound(f"There is no comment #{comment_id}.")
    comment.hidden = hidden
    await session.flush()
    return _listed((*row[:5], hidden, *row[6:]))

