"""Writing to the outbox: every message that is not a direct reply goes here first.

Rows are written in the same transaction as the state change that caused them, with a
dedupe key, so a crash can never skip an expert and a retry can never queue twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, cast, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Card
from engine.db import upsert
from engine.models import OutboxMessage, Participant

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


async def enqueue_to_panel(
    session: AsyncSession,
    study_id: str,
    kind: str,
    cards: Sequence[Card],
    dedupe_prefix: str,
    now: datetime,
) -> None:
    """Queue ``cards`` for every active expert of the study, each row's dedupe key being
    ``dedupe_prefix`` and the expert's id. One statement, the rows written by the database:
    a round's close queues a summary for each of a thousand experts inside its write
    transaction, where a statement per expert would keep every press waiting."""
    table, people = OutboxMessage.__table__, Participant.__table__
    values = {
        "study_id": literal(study_id, table.c.study_id.type),
        "participant_id": people.c.id,
        "kind": literal(kind, table.c.kind.type),
        "payload": literal({"cards": [c.to_json() for c in cards]}, table.c.payload.type),
        "dedupe_key": literal(dedupe_prefix, String) + cast(people.c.id, String),
        "status": literal("pending", table.c.status.type),
        "attempts": literal(0, table.c.attempts.type),
        "not_before": literal(now, table.c.not_before.type),
        "created_at": literal(now, table.c.created_at.type),
    }
    rows = (select(*values.values())
            .where(people.c.study_id == study_id, people.c.status == "active")
            .order_by(people.c.id))
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)
    await session.execute(insert(OutboxMessage).from_select(list(values), rows)
                          .on_conflict_do_nothing(index_elements=["dedupe_key"]))
    session.info[DIRTY] = True


def cards_of(message: OutboxMessage) -> list[Card]:
    return [Card.from_json(data) for data in message.payload["cards"]]
