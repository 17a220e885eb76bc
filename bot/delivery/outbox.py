"""Writing to the outbox: every message that is not a direct reply goes here first.

Rows are written in the same transaction as the state change that caused them, with a
dedupe key, so a crash can never skip an expert and a retry can never queue twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Card
from engine.db import upsert
from engine.models import OutboxMessage

DIRTY = "outbox_dirty"


async def enqueue(
    session: AsyncSession,
    study_id: str,
    kind: str,
    cards: Sequence[Card],
    dedupe_key: str,
    now: datetime,
    participant_id: int | None = None,
    platform: str | None = None,
    address: str | None = None,
) -> None:
    """Queue ``cards`` for one recipient: a participant, or an explicit platform address."""
    if (participant_id is None) == (address is None):
        raise ValueError("give a participant or an address, not both")
    await upsert(
        session, OutboxMessage.__table__,
        {"study_id": study_id, "participant_id": participant_id, "platform": platform,
         "address": address, "kind": kind, "payload": {"cards": [c.to_json() for c in cards]},
         "dedupe_key": dedupe_key, "status": "pending", "attempts": 0, "not_before": now,
         "created_at": now},
        conflict=("dedupe_key",))
    session.info[DIRTY] = True  # the conductor wakes the dispatcher after the commit


def cards_of(message: OutboxMessage) -> list[Card]:
    return [Card.from_json(data) for data in message.payload["cards"]]
