"""The outbox table's queries: queueing a message, and the dispatcher's leases.

Rows are written in the same transaction as the state change that caused them, with a
dedupe key, so a crash can never skip an expert and a retry can never queue twice. The
dispatcher (bot.delivery.dispatcher) claims rows with a lease, sends them and records
the outcome through the functions here; what a lease means, and who may take one, is
explained there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from engine.db import in_one_trip, upsert
from engine.models import Identity, OutboxMessage, Participant

Payload = dict[str, Any]  # {"cards": [card JSON, ...], "sent": cards already delivered}


@dataclass
class Claimed:
    row: OutboxMessage
    target: tuple[str, str] | None  # (platform, address); None: the identity is gone


async def queue(session: AsyncSession, study_id: str, kind: str, payload: Payload,
                dedupe_key: str, now: datetime, participant_id: int | None = None,
                platform: str | None = None, address: str | None = None) -> None:
    """Queue one message for one recipient: a participant, or a platform address."""
    if (participant_id is None) == (address is None):
        raise ValueError("give a participant or an address, not both")
    await upsert(
        session, OutboxMessage.__table__,
        {"study_id": study_id, "participant_id": participant_id, "platform": platform,
         "address": address, "kind": kind, "payload": payload, "dedupe_key": dedupe_key,
         "status": "pending", "attempts": 0, "not_before": now, "created_at": now},
        conflict=("dedupe_key",))


async def queue_to_panel(session: AsyncSession, study_id: str, kind: str, payload: Payload,
                         dedupe_prefix: str, now: datetime) -> None:
    """Queue one message for every active expert of the study, each row's dedupe key being
    ``dedupe_prefix`` and the expert's id. One statement, the rows written by the database:
    a round's close queues a summary for each of a thousand experts inside its write
    transaction, where a statement per expert would keep every press waiting."""
    table, people = OutboxMessage.__table__, Participant.__table__
    values = {
        "study_id": literal(study_id, table.c.study_id.type),
        "participant_id": people.c.id,
        "kind": literal(kind, table.c.kind.type),
        "payload": literal(payload, table.c.payload.type),
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
    statement = (insert(OutboxMessage).from_select(list(values), rows)
                 .on_conflict_do_nothing(index_elements=["dedupe_key"]))
    await in_one_trip(session, lambda connection: connection.execute(statement))


async def newest(session: AsyncSession, dedupe_prefix: str) -> int | None:
    """The id of the newest row queued under a dedupe key starting with ``dedupe_prefix``."""
    return await session.scalar(select(func.max(OutboxMessage.id)).where(
        OutboxMessage.dedupe_key.startswith(dedupe_prefix, autoescape=True)))


async def delivered(session: AsyncSession, kind: str) -> int:
    """How many messages of this kind went out."""
    return await session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.kind == kind, OutboxMessage.status == "delivered")) or 0


def _due_rows(skip_locked: bool) -> Select[OutboxMessage]:
    """Up to ``batch`` rows due at ``now``: of each recipient only the oldest pending row.
    Built once: the dispatcher asks every half second, mostly of an empty outbox, and
    building the statement cost it far more than running it."""
    earlier = aliased(OutboxMessage)
    queued_before = exists().where(
        earlier.status == "pending", earlier.id < OutboxMessage.id,
        or_(and_(OutboxMessage.participant_id.is_not(None),
                 earlier.participant_id == OutboxMessage.participant_id),
            and_(OutboxMessage.address.is_not(None),
                 earlier.platform == OutboxMessage.platform,
                 earlier.address == OutboxMessage.address)))
    now: BindParameter[datetime] = bindparam("now")
    query = (select(OutboxMessage)
             .where(OutboxMessage.status == "pending",
                    OutboxMessage.not_before <= now,
                    or_(OutboxMessage.claimed_until.is_(None),
                        OutboxMessage.claimed_until < now),
                    ~queued_before)
             .order_by(OutboxMessage.id).limit(bindparam("batch", type_=Integer)))
    return query.with_for_update(skip_locked=True, of=OutboxMessage) if skip_locked else query


_DUE = {skip_locked: _due_rows(skip_locked) for skip_locked in (False, True)}


async def claim(session: AsyncSession, worker: str, now: datetime, until: datetime,
                batch: int, skip_locked: bool) -> list[Claimed]:
    """Lease up to ``batch`` rows due now to ``worker`` until ``until``: of each recipient
    only the oldest pending row (a recipient's messages go out in order), with where to
    send each. ``skip_locked`` (PostgreSQL) leaves rows another worker is claiming."""
    rows = list((await session.scalars(_DUE[skip_locked], {"now": now, "batch": batch}))
                .all())
    if not rows:
        return []
    await session.execute(update(OutboxMessage)
                          .where(OutboxMessage.id.in_([r.id for r in rows]))
                          .values(claimed_by=worker, claimed_until=until))
    people = [r.participant_id for r in rows if r.participant_id is not None]
    identities = {pid: (platform, chat) for pid, platform, chat in (
        await session.execute(select(Identity.participant_id, Identity.platform,
                                     Identity.chat_id)
                              .where(Identity.participant_id.in_(people))))}
    return [Claimed(row, (row.platform, row.address)
                    if row.address is not None and row.platform is not None
                    else identities.get(row.participant_id or -1))
            for row in rows]


async def give_back(session: AsyncSession, worker: str) -> None:
    """End ``worker``'s leases on the rows it has not sent (a clean stop)."""
    await session.execute(update(OutboxMessage).where(
        OutboxMessage.claimed_by == worker, OutboxMessage.status == "pending")
        .values(claimed_until=None))


async def release_every_lease(session: AsyncSession) -> int:
    """Free every lease on a pending row; the rows freed."""
    result = await session.execute(update(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.claimed_until.is_not(None))
        .values(claimed_until=None, claimed_by=None))
    return int(getattr(result, "rowcount", 0) or 0)


async def lease_holders(session: AsyncSession, besides: str, now: datetime) -> set[str]:
    """The workers other than ``besides`` holding a live lease on a pending row."""
    owners = (await session.scalars(select(OutboxMessage.claimed_by).where(
        OutboxMessage.status == "pending", OutboxMessage.claimed_by.is_not(None),
        OutboxMessage.claimed_by != besides,
        OutboxMessage.claimed_until >= now).distinct())).all()
    return {owner for owner in owners if owner is not None}


async def release_leases_of(session: AsyncSession, workers: Iterable[str]) -> int:
    """Free the leases of these (dead) workers; the rows freed."""
    result = await session.execute(update(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.claimed_by.in_(list(workers)))
        .values(claimed_until=None, claimed_by=None))
    return int(getattr(result, "rowcount", 0) or 0)


async def record_sent(session: AsyncSession, message_id: int, payload: Payload) -> None:
    """Store the payload with how many of its cards went out, so a retry resumes there."""
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                          .values(payload=payload))


async def finish(session: AsyncSession, message: OutboxMessage, status: str,
                 error: str | None, now: datetime) -> None:
    """Close a pending row as ``delivered`` or ``failed``; a delivery shows that its
    recipient reads us again, so they are reachable."""
    await session.execute(update(OutboxMessage).where(
        OutboxMessage.id == message.id, OutboxMessage.status == "pending").values(
        status=status, delivered_at=now if status == "delivered" else None,
        last_error=error[:500] if error else None, claimed_until=None,
        attempts=OutboxMessage.attempts + 1))
    if status == "delivered" and message.participant_id is not None:
        await session.execute(update(Participant).where(
            Participant.id == message.participant_id,
            Participant.unreachable_since.is_not(None)).values(unreachable_since=None))


async def retry_later(session: AsyncSession, message_id: int, error: str,
                      not_before: datetime) -> None:
    """Count a failed attempt and hand the row back, due again at ``not_before``."""
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(
        attempts=OutboxMessage.attempts + 1, last_error=error[:500], claimed_until=None,
        not_before=not_before))


async def mark_unreachable(session: AsyncSession, participant_id: int,
                           now: datetime) -> str | None:
    """Fail the recipient's other pending rows and mark them unreachable; their pseudonym
    when this marked them (None when they were marked already)."""
    await session.execute(update(OutboxMessage).where(
        OutboxMessage.participant_id == participant_id,
        OutboxMessage.status == "pending").values(
        status="failed", last_error="recipient unreachable", claimed_until=None))
    marked = await session.execute(update(Participant).where(
        Participant.id == participant_id,
        Participant.unreachable_since.is_(None)).values(unreachable_since=now))
    if not getattr(marked, "rowcount", 0):
        return None
    pseudonym = await session.scalar(select(Participant.pseudonym).where(
        Participant.id == participant_id))
    return pseudonym or "?"
