"""The outbox dispatcher: delivers queued messages in the background, once each, in order.

Claiming. A row is claimed with a lease (``claimed_by`` / ``claimed_until``; on
PostgreSQL with ``FOR UPDATE SKIP LOCKED`` so that two ``delphi run`` processes share
the work) and marked ``delivered`` after it went out. A crash between the two leaves a
lease, so the row is sent again rather than lost; a clean stop gives its leases back at
once. Who takes a dead worker's leases, and when: on SQLite (one worker) the restarted
process at start-up; on PostgreSQL any live dispatcher, a few seconds after the dead
one's advisory lock fell free (``bot.delivery.liveness``), instead of waiting out the lease. A
live worker's leases are never taken while it holds its lock, and a worker that loses
its database session stops sending under that id before the others' grace period ends.

Order. Only the oldest pending row of each recipient is ever claimable: a recipient's
second message waits until the first is delivered (or has failed for good), across
retries and across processes. A row holding several cards records how many went out
(``payload["sent"]``), so a retry resumes at the first card not yet delivered.

Pacing. Each claimed batch holds at most one row per recipient; rows go out
concurrently, each waiting for its platform's pacer (``bot.delivery.pacing``: overall and
per-chat token buckets), so a broadcast runs at the platform's limit without 429s.

Failures. 429 / 5xx / timeouts are retried with backoff honouring ``retry_after``. A
recipient who blocked the bot or was deactivated is marked unreachable, their other
queued messages are failed with them (no retry storm), and every coordinator is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.chat.cards import Card, Picture, card
from bot.chat.ports import DeliveryError, Messenger
from bot.chat.text import Step, say
from bot.delivery.liveness import WorkerLock, lock_key
from bot.delivery.outbox import cards_of, enqueue
from bot.delivery.pacing import POLICIES, Pacer, PacingPolicy, pacers
from engine import outbox
from engine.clock import Clock
from engine.db import Store
from engine.models import OutboxMessage
from engine.report.feedback_chart import RoundCharts

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # the backstop; on PostgreSQL a dead worker is noticed sooner
MAX_ATTEMPTS = 12
BATCH = 100
MIN_RETRY_SECONDS = 1.0
STOP_GRACE_SECONDS = 5.0
# PostgreSQL liveness (bot.delivery.liveness). A worker pings its own lock's session every
# KEEPALIVE_SECONDS (giving up after PING_TIMEOUT_SECONDS) and stops sending under an id it
# cannot vouch for; the others wait DEAD_GRACE_SECONDS after a lock fell free before they
# take that worker's rows: longer than that self-check plus one send in flight.
KEEPALIVE_SECONDS = 1.0
PING_TIMEOUT_SECONDS = 2.0
DEAD_GRACE_SECONDS = 10.0
RECOVERY_SECONDS = 1.0


# Draws a recipient's picture of a closed round: (study id, round, participant id) -> PNG,
# or None when there is nothing to show.
ChartDrawer = Callable[[str, int, int], Awaitable[bytes | None]]


@dataclass
class _Claimed:
    row: OutboxMessage
    target: tuple[str, str] | None  # (platform, address); None: the identity is gone
    worker: str  # the id the row was claimed under


class Dispatcher:
    def __init__(self, store: Store, clock: Clock, messengers: Mapping[str, Messenger],
                 poll_seconds: float = 0.5, *,
                 coordinators: Iterable[tuple[str, str]] = (),
                 pacing: Mapping[str, PacingPolicy | None] | None = None,
                 batch: int = BATCH, dead_grace: float = DEAD_GRACE_SECONDS,
                 keepalive: float = KEEPALIVE_SECONDS,
                 charts: ChartDrawer | None = None) -> None:
        """``coordinators``: (platform, address) pairs told when an expert becomes
        unreachable. ``pacing``: per-platform policies (default ``bot.delivery.pacing.POLICIES``;
        None for a platform sends unpaced). ``dead_grace`` / ``keepalive``: see
        ``DEAD_GRACE_SECONDS`` (PostgreSQL only). ``charts`` draws the round pictures
        cards ask for with ``chart_round`` (default: engine.report.feedback_chart)."""
        self.store = store
        self.clock = clock
        self.messengers = dict(messengers)
        self.poll_seconds = poll_seconds
        self.coordinators = sorted(set(coordinators))
        self.pacers: dict[str, Pacer] = pacers({**POLICIES, **(pacing or {})})
        self.batch = batch
        # Used as is on SQLite and by a dispatcher driven by run_once() alone; a started
        # dispatcher on PostgreSQL claims under its advisory lock's id instead.
        self.worker = f"dispatcher-{uuid.uuid4().hex[:8]}"
        self.lock = None if store.sqlite else WorkerLock(store.engine)
        self.dead_grace = dead_grace
        self.keepalive = keepalive
        self.charts = charts or RoundCharts(store).for_expert
        self._locked = False  # started on PostgreSQL: claim and send only under the lock
        self._free_since: dict[str, float] = {}
        self._next_recovery = 0.0
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        if self.lock is not None:
            self._locked = True
            self._keeper = asyncio.create_task(self._keep_lock(), name=f"{self.worker}-lock")
        self._task = asyncio.create_task(self._loop(), name=self.worker)

    async def stop(self) -> None:
        """Finish the batch in flight (briefly), then give back any lease still held."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_SECONDS)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.release_leases()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        if self.lock is not None:
            await self.lock.release()
        self._locked = False
        self._stopping = False

    async def release_leases(self) -> None:
        async with self.store.transaction() as session:
            await outbox.give_back(session, self.worker)

    async def recover_orphaned_leases(self) -> int:
        """On SQLite only one dispatcher may run per database, so at start-up any lease
        left on a pending row belongs to a process that died: release it now instead of
        letting a restarted bot wait out the lease. (On PostgreSQL other workers may be
        alive: ``recover_dead_leases`` asks their advisory locks instead.)"""
        if not self.store.sqlite:
            return 0
        async with self.store.transaction() as session:
            released = await outbox.release_every_lease(session)
        if released:
            log.info("released %d outbox leases left by a stopped process", released)
        return released

    # --- liveness (PostgreSQL) --------------------------------------------------------

    async def _keep_lock(self) -> None:
        """Take the advisory lock, then check every ``keepalive`` seconds that its session
        is still there; when it is not, drop that id (rows claimed under it are no longer
        sent by us) and take a fresh lock under a new id."""
        assert self.lock is not None
        while not self._stopping:
            try:
                if self.lock.worker is None:
                    self.worker = await self.lock.acquire()
                    log.info("outbox worker %s holds its liveness lock", self.worker)
                elif not await self.lock.ping(PING_TIMEOUT_SECONDS):
                    log.warning("outbox worker %s lost its database session: it sends "
                                "nothing more under that id; its rows go to whoever is "
                                "alive", self.worker)
                    continue
            except Exception as error:  # the database is away: try again, quietly
                log.warning("outbox worker cannot take its liveness lock (%s); retrying",
                            error)
            await asyncio.sleep(self.keepalive)

    def _claimant(self) -> str | None:
        """The id to claim under; None: a started PostgreSQL dispatcher without its lock
        claims nothing until it has one."""
        if not self._locked:
            return self.worker
        assert self.lock is not None
        return self.lock.worker

    def _may_send(self, worker: str) -> bool:
        """Rows claimed under an id this process can no longer vouch for stay unsent:
        another worker takes them once that id's lock is seen free."""
        return not self._locked or (self.lock is not None and self.lock.worker == worker)

    async def recover_dead_leases(self) -> int:
        """Release the leases of workers whose advisory lock has been free for at least
        ``dead_grace`` seconds (their session ended: killed, or cut off). Workers holding
        their lock, and ids that hold none, are left alone. Returns the rows released."""
        if self.lock is None or self.lock.worker is None:
            return 0
        mine = self.lock.worker
        async with self.store.transaction() as session:
            owners = await outbox.lease_holders(session, mine, self.clock.now())
        seen = time.monotonic()
        dead = []
        for owner in sorted(o for o in owners if lock_key(o) is not None):
            if not await self.lock.is_dead(owner):
                self._free_since.pop(owner, None)
                continue
            if seen - self._free_since.setdefault(owner, seen) >= self.dead_grace:
                dead.append(owner)
        for gone in set(self._free_since) - owners:
            del self._free_since[gone]
        if not dead:
            return 0
        async with self.store.transaction() as session:
            released = await outbox.release_leases_of(session, dead)
        for owner in dead:
            self._free_since.pop(owner, None)
        log.info("released %d outbox leases of %s: their database session ended",
                 released, ", ".join(dead))
        return released

    async def _recover_now_and_then(self) -> None:
        if self.lock is None or time.monotonic() < self._next_recovery:
            return
        self._next_recovery = time.monotonic() + RECOVERY_SECONDS
        await self.recover_dead_leases()

    async def _loop(self) -> None:
        with contextlib.suppress(Exception):
            await self.recover_orphaned_leases()
        while not self._stopping:
            try:
                await self._recover_now_and_then()
                sent = await self.run_once()
            except Exception:  # keep delivering whatever one row or one cycle did
                log.exception("outbox cycle failed")
                sent = 0
            if sent or self._stopping:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    # --- claiming ---------------------------------------------------------------------

    async def _claim(self, now: datetime) -> list[_Claimed]:
        worker = self._claimant()
        if worker is None:
            return []
        async with self.store.transaction() as session:
            claimed = await outbox.claim(session, worker, now, now + LEASE, self.batch,
                                         skip_locked=not self.store.sqlite)
        return [_Claimed(c.row, c.target, worker) for c in claimed]

    # --- delivering -------------------------------------------------------------------

    async def run_once(self) -> int:
        """Deliver everything due now (batch after batch, each recipient's rows in order);
        return how many rows were delivered."""
        total = 0
        while not self._stopping:
            claimed = await self._claim(self.clock.now())
            if not claimed:
                break
            delivered = sum(await asyncio.gather(*(self._deliver(c) for c in claimed)))
            total += delivered
            if not delivered:
                break
        return total

    async def _deliver(self, claimed: _Claimed) -> int:
        message, target = claimed.row, claimed.target
        messenger = self.messengers.get(target[0]) if target else None
        if target is None or messenger is None:
            reason = "no identity (erased?)" if target is None else f"no {target[0]} adapter"
            await self._finish(message, "failed", reason)
            return 0
        platform, address = target
        pacer = self.pacers.get(platform)
        cards = cards_of(message)
        try:
            for index in range(int(message.payload.get("sent", 0)), len(cards)):
                card = await self._drawn(message, cards[index])
                if pacer is not None and card is not None:
                    await pacer.slot(address)
                if not self._may_send(claimed.worker):
                    log.info("outbox %s left for another worker: %s lost its lock",
                             message.id, claimed.worker)
                    return 0
                if card is not None:
                    await messenger.deliver(address, [card])
                if index + 1 < len(cards):
                    await self._progress(message, index + 1)
        except DeliveryError as error:  # the row's not_before carries any retry_after
            await self._failed(message, error)
            return 0
        except Exception as error:  # an adapter bug must not stop the other rows
            log.exception("outbox %s: unexpected delivery error", message.id)
            await self._failed(message, DeliveryError(f"unexpected: {error!r}"))
            return 0
        await self._finish(message, "delivered", None)
        return 1

    async def _drawn(self, message: OutboxMessage, card: Card) -> Card | None:
        """The card as sent: a round picture it asks for is drawn now, after the commit
        that queued it; None when there is no picture to show (the card is left out)."""
        if card.chart_round is None:
            return card
        if message.participant_id is None:
            return None
        png = await self.charts(message.study_id, card.chart_round, message.participant_id)
        if png is None:
            return None
        return replace(card, chart_round=None,
                       image=Picture(f"round-{card.chart_round}.png", png))

    async def _progress(self, message: OutboxMessage, sent: int) -> None:
        """Record that the first ``sent`` cards are out, so a retry does not repeat them."""
        message.payload = {**message.payload, "sent": sent}
        async with self.store.transaction() as session:
            await outbox.record_sent(session, message.id, message.payload)

    async def _finish(self, message: OutboxMessage, status: str, error: str | None) -> None:
        async with self.store.transaction() as session:
            await outbox.finish(session, message, status, error, self.clock.now())

    async def _failed(self, message: OutboxMessage, error: DeliveryError) -> None:
        now = self.clock.now()
        if error.permanent:
            await self._unreachable(message, error, now)
            return
        if message.attempts + 1 >= MAX_ATTEMPTS:
            log.warning("outbox %s given up after %s attempts: %s", message.id,
                        message.attempts + 1, error)
            await self._finish(message, "failed", str(error))
            return
        delay = error.retry_after if error.retry_after is not None else 2.0 ** message.attempts
        delay = min(600.0, max(MIN_RETRY_SECONDS, delay))
        async with self.store.transaction() as session:
            await outbox.retry_later(session, message.id, str(error),
                                     now + timedelta(seconds=delay))

    async def _unreachable(self, message: OutboxMessage, error: DeliveryError,
                           now: datetime) -> None:
        """Blocked / deactivated: fail this row and the recipient's other queued rows,
        mark the participant unreachable and tell the coordinators, all at once."""
        log.warning("outbox %s: recipient unreachable: %s", message.id, error)
        told = False
        async with self.store.transaction() as session:
            await outbox.finish(session, message, "failed", str(error), now)
            if message.participant_id is None:
                return
            pseudonym = await outbox.mark_unreachable(session, message.participant_id, now)
            if pseudonym is not None and self.coordinators:
                notice = unreachable(pseudonym, str(error))
                for platform, address in self.coordinators:
                    await enqueue(session, message.study_id, "unreachable", [notice],
                                  f"unreachable:{message.participant_id}:{now.isoformat()}:"
                                  f"{platform}:{address}", now,
                                  platform=platform, address=address)
                told = True
        if told:
            self.wake()


def unreachable(pseudonym: str, reason: str) -> Card:
    """Told to the coordinators: an expert can no longer be reached (blocked the bot,
    account deactivated). Pseudonym only; the coordinator knows whom to ask."""
    return card(say(f"Expert {pseudonym} can no longer be reached ({reason[:120]}). Messages "
                    "to them have stopped; they stay on the panel. If they come back (unblock "
                    "the bot, send ", Step("ballot"), "), messages resume."))
