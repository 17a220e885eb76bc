"""What a participant's next free-text message means: a comment on a statement, a reason
for an outlying rating, or a reply to another expert's comment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import upsert
from engine.models import PendingInput


async def expect_comment(session: AsyncSession, participant_id: int, round_number: int,
                         code: str, now: datetime, kind: str = "comment",
                         reply_to: int | None = None) -> None:
    """The next text is a ``kind`` (comment, reason or reply) on ``code``."""
    await upsert(
        session, PendingInput.__table__,
        {"participant_id": participant_id, "kind": kind, "round_number": round_number,
         "statement_code": code, "reply_to": reply_to, "created_at": now},
        conflict=("participant_id",), update=("kind", "round_number", "statement_code",
                                              "reply_to", "created_at"))


async def pending_input(session: AsyncSession, participant_id: int) -> PendingInput | None:
    return await session.get(PendingInput, participant_id)


async def clear_pending(session: AsyncSession, participant_id: int) -> None:
    await session.execute(delete(PendingInput).where(
        PendingInput.participant_id == participant_id))
