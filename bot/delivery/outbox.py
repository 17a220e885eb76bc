"""Writing to the outbox: every message that is not a direct reply goes here first.

Cards are queued as JSON in the same transaction as the state change that caused them
(engine.outbox holds the queries); the session is marked so whoever commits it wakes the
dispatcher afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Card
from engine import outbox
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
    await outbox.queue(session, study_id, kind, _payload(cards), dedupe_key, now,
                       participant_id, platform, address)
    session.info[DIRTY] = True  # the conductor wakes the dispatcher after the commit


async def enqueue_to_panel(
    session: AsyncSession,
    study_id: str,
    kind: str,
    cards: Sequence[Card],
    dedupe_prefix: str,
    now: datetime,
) -> None:
    """Queue ``cards`` for every active expert of the study in one statement (see
    engine.outbox.queue_to_panel)."""
    await outbox.queue_to_panel(session, study_id, kind, _payload(cards), dedupe_prefix, now)
    session.info[DIRTY] = True


def cards_of(message: OutboxMessage) -> list[Card]:
    return [Card.from_json(data) for data in message.payload["cards"]]


def _payload(cards: Sequence[Card]) -> outbox.Payload:
    return {"cards": [c.to_json() for c in cards]}
