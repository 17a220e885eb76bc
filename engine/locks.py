"""One writer at a time per study, for the changes that must have exactly one winner.

On PostgreSQL two workers (or two coordinators on one worker) may run the same change
at the same moment. Every coordinator state change, every invite redemption and the
scheduler's deadline work first lock the study's row, so they queue behind each other;
PostgreSQL's default isolation (read committed) then lets each statement that follows
see what the one before it committed, and the loser's own checks ("round 1 is already
open") refuse it with a sentence. SQLite gets the same order from ``BEGIN IMMEDIATE``
(the SQL below renders without ``FOR UPDATE`` there).

The lock must be the transaction's first read of the rows it protects: an object loaded
before it would keep the values it had then.
"""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from engine.models import Study

# FOR NO KEY UPDATE: queues behind other holders and behind updates of the study row,
# but not rows inserted elsewhere that merely refer to the study (their foreign key check
# takes FOR KEY SHARE), so experts' presses never wait for a coordinator's change.
_LOCK = select(Study.id).with_for_update(key_share=True)


async def hold_study(session: AsyncSession, study_id: str) -> bool:
    """Lock the study until this transaction ends (waiting for whoever holds it); False
    when there is no such study (the caller's own reads then say so)."""
    return await session.scalar(_LOCK.where(Study.id == study_id)) is not None


# PostgreSQL session advisory locks, on a connection of their own, name live workers
# (bot.delivery.liveness). The two-key form's first key ("Delp") keeps ours apart from
# another application's single-key locks on the same database.
NAMESPACE = 0x44656C70
_TRY = text("SELECT pg_try_advisory_lock(:namespace, :key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:namespace, :key)")
_PING = text("SELECT 1")


async def try_worker_lock(connection: AsyncConnection, key: int) -> bool:
    """Take worker lock ``key`` on this connection's session if it is free."""
    return bool(await connection.scalar(_TRY, {"namespace": NAMESPACE, "key": key}))


async def release_worker_lock(connection: AsyncConnection, key: int) -> None:
    await connection.scalar(_UNLOCK, {"namespace": NAMESPACE, "key": key})


async def ping(connection: AsyncConnection) -> None:
    """A round trip to the server on this connection (raises when the session is gone)."""
    await connection.scalar(_PING)
