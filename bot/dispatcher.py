"""The outbox dispatcher: delivers queued messages in the background, once each.

A row is claimed (status stays ``pending`` but ``claimed_until`` is set, a lease) before
it is sent and marked ``delivered`` after; a crash between the two leaves a lease that
expires, so the row is sent again on restart rather than lost. Failures are retried
with backoff that honours the platform's ``retry_after``; a recipient who blocked the
bot is marked unreachable and never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from bot.outbox import cards_of
from bot.ports import DeliveryError, Messenger
from engine.clock import Clock
from engine.db import Store
from engine.models import Identity, OutboxMessage, Participant

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 12
BATCH = 50


class Dispatcher:
    def __init__(self, store: Store, clock: Clock, messengers: Mapping[str, Messenger],
                 poll_seconds: float = 0.5) -> None:
        self.store = store
        self.clock = clock
        self.messengers = dict(messengers)
        self.poll_seconds = poll_seconds
        self.worker = f"dispatcher-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.worker)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except Exception:  # keep delivering whatever one row or one cycle did
                log.exception("outbox cycle failed")
                sent = 0
            if sent:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _claim(self, now: datetime) -> list[OutboxMessage]:
        async with self.store.transaction() as session:
            query = (select(OutboxMessage)
                     .where(OutboxMessage.status == "pending",
                            OutboxMessage.not_before <= now,
                            or_(OutboxMessage.claimed_until.is_(None),
                                OutboxMessage.claimed_until < now))
                     .order_by(OutboxMessage.id).limit(BATCH))
            if not self.store.sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.scalars(query)).all())
            if rows:
                await session.execute(update(OutboxMessage)
                                      .where(OutboxMessage.id.in_([r.id for r in rows]))
                                      .values(claimed_by=self.worker,
                                              claimed_until=now + LEASE))
            return rows

    async def _address(self, message: OutboxMessage) -> tuple[str, str] | None:
        if message.address is not None and message.platform is not None:
            return message.platform, message.address
        async with self.store.transaction() as session:
            identity = await session.scalar(select(Identity).where(
                Identity.participant_id == message.participant_id))
        return (identity.platform, identity.chat_id) if identity is not None else None

    async def run_once(self) -> int:
        """Deliver what is due now; return how many rows were delivered."""
        rows = await self._claim(self.clock.now())
        delivered = 0
        for message in rows:
            delivered += await self._deliver(message)
        return delivered

    async def _deliver(self, message: OutboxMessage) -> int:
        target = await self._address(message)
        messenger = self.messengers.get(target[0]) if target else None
        if target is None or messenger is None:
            reason = "no identity (erased?)" if target is None else f"no {target[0]} adapter"
            await self._finish(message, "failed", reason)
            return 0
        try:
            await messenger.deliver(target[1], cards_of(message))
        except DeliveryError as error:
            await self._failed(message, error)
            return 0
        await self._finish(message, "delivered", None)
        return 1

    async def _finish(self, message: OutboxMessage, status: str, error: str | None) -> None:
        now = self.clock.now()
        async with self.store.transaction() as session:
            await session.execute(update(OutboxMessage).where(
                OutboxMessage.id == message.id, OutboxMessage.status == "pending").values(
                status=status, delivered_at=now if status == "delivered" else None,
                last_error=error, claimed_until=None, attempts=OutboxMessage.attempts + 1))

    async def _failed(self, message: OutboxMessage, error: DeliveryError) -> None:
        now = self.clock.now()
        if error.permanent or message.attempts + 1 >= MAX_ATTEMPTS:
            log.warning("outbox %s given up: %s", message.id, error)
            await self._finish(message, "failed", str(error))
            if error.permanent and message.participant_id is not None:
                async with self.store.transaction() as session:
                    await session.execute(update(Participant).where(
                        Participant.id == message.participant_id,
                        Participant.unreachable_since.is_(None)).values(unreachable_since=now))
            return
        delay = error.retry_after if error.retry_after is not None else min(
            600.0, 2.0 ** message.attempts)
        async with self.store.transaction() as session:
            await session.execute(update(OutboxMessage).where(
                OutboxMessage.id == message.id).values(
                attempts=OutboxMessage.attempts + 1, last_error=str(error)[:500],
                claimed_until=None, not_before=now + timedelta(seconds=delay)))
