"""What a participant's next free-text message means (so far: a comment on a statement)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import upsert
from engine.models import PendingInput


async def expect_comment(session: AsyncSession, participant_id: int, round_number: int,
                         code: str, now: datetime) -> None:
    await upsert(
        session, PendingInput.__table__,
        {"participant_id": participant_id, "kind": "comment", "round_number": round_number,
         "statement_code": code, "created_at": now},
        conflict=("participant_id",), update=("kind", "round_number", "statement_code",
                                              "created_at"))


async def pending_input(session: AsyncSession, participant_id: int) -> PendingInput | None:
    return await session.get(PendingInput, participant_id)


async def clear_pending(session: AsyncSession, participant_id: int) -> None:
    await session.execute(delete(PendingInput).where(
        PendingInput.participant_id == participant_id))
