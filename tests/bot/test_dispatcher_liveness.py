"""Outbox leases on PostgreSQL: a live worker's are never taken, a dead worker's are taken
within seconds (bot.delivery.liveness: each started dispatcher holds an advisory lock). Two
dispatchers with engines of their own stand for two processes; the one whose database
session is cut stops sending under that id, and a live one delivers the rest, once."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select, text

from adapters.memory import MemoryMessenger
from bot.chat.cards import Card, Document, card
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.liveness import PREFIX, WorkerLock, lock_key, worker_id
from bot.delivery.outbox import enqueue
from bot.delivery.pacing import PacingPolicy
from engine.clock import ManualClock
from engine.db import Store
from engine.enrolment import PlatformUser, create_invites, redeem_invite
from engine.locks import NAMESPACE
from engine.models import OutboxMessage
from tests.conftest import Backend
from tests.engine.helpers import loaded
from tests.schedule.harness import PLATFORM

QUICK = {"dead_grace": 1.0, "keepalive": 0.1}


def test_worker_ids_name_their_lock_and_other_ids_name_none() -> None:
    assert lock_key(worker_id(0x1234abcd)) == 0x1234abcd
    assert worker_id(7).startswith(PREFIX)
    for other in ("dispatcher-1a2b3c4d", "dispatcher-dead", "dispatcher-L1234", "", "x"):
        assert lock_key(other) is None


@dataclass
class Door:
    """The messenger port of one worker: deliveries wait while the door is shut (a slow
    platform) and are recorded by recipient, so a test sees who sent what."""

    messenger: MemoryMessenger
    platform: str = PLATFORM
    sent: list[str] = field(default_factory=list)
    open: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver(self, address: str, cards: list[Card],
                      documents: list[Document] | None = None) -> None:
        await self.open.wait()
        await self.messenger.deliver(address, cards, documents)
        self.sent.append(address)


@pytest.fixture
async def other(backend: Backend) -> AsyncIterator[Store]:
    """A second engine on the same database: a second process."""
    if backend.name != "postgresql":
        pytest.skip("advisory-lock liveness is PostgreSQL's; SQLite runs one worker")
    store = backend.store()
    yield store
    await store.dispose()


async def queue(store: Store, clock: ManualClock, messenger: MemoryMessenger,
                size: int) -> list[str]:
    """``size`` experts with one queued message each; returns their addresses."""
    spec = await loaded(store, clock.now())
    addresses = [f"u{i}" for i in range(size)]
    async with store.transaction() as session:
        tokens = await create_invites(session, spec.study.id, size, clock.now())
        for address, token in zip(addresses, tokens, strict=True):
            expert = await redeem_invite(session, spec.study.id, token,
                                         PlatformUser(PLATFORM, address, address), clock.now())
            await enqueue(session, spec.study.id, "round_summary", [card("Round 1 summary")],
                          f"summary:1:{address}", clock.now(), participant_id=expert.id)
    for address in addresses:
        messenger.chat(None, address)  # type: ignore[arg-type]
    return addresses


async def claims(store: Store) -> dict[str | None, int]:
    async with store.transaction() as session:
        rows = (await session.execute(select(OutboxMessage.claimed_by, OutboxMessage.status)))
        found: dict[str | None, int] = {}
        for owner, status in rows:
            if status == "pending":
                found[owner] = found.get(owner, 0) + 1
        return found


async def claims_by(store: Store, worker: str, count: int) -> bool:
    return (await claims(store)).get(worker, 0) == count


async def until(condition: Callable[[], bool | Awaitable[bool]], limit: float = 30.0) -> None:
    """Poll ``condition``; the limit only turns a hang into a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert loop.time() < deadline, "gave up waiting"
        await asyncio.sleep(0.05)


def received(messenger: MemoryMessenger, address: str) -> list[str]:
    return [m.card.plain_text() for m in messenger.chats[address].messages]


async def test_a_live_workers_leases_are_never_taken(store: Store, other: Store,
                                                     clock: ManualClock) -> None:
    messenger = MemoryMessenger()
    addresses = await queue(store, clock, messenger, 3)
    doors = [Door(messenger), Door(messenger)]
    first = Dispatcher(store, clock, {PLATFORM: doors[0]}, pacing={PLATFORM: None}, **QUICK)
    second = Dispatcher(other, clock, {PLATFORM: doors[1]}, pacing={PLATFORM: None}, **QUICK)
    first.start()
    try:
        await until(lambda: first.lock is not None and first.lock.worker is not None)
        await until(lambda: claims_by(store, first.worker, 3))  # claimed; sends held at the door
        second.start()
        await asyncio.sleep(5 * QUICK["dead_grace"])  # many recovery rounds of the second
        assert await claims(store) == {first.worker: 3}
        assert await second.recover_dead_leases() == 0
        doors[0].open.set()
        doors[1].open.set()
        await until(lambda: all(received(messenger, a) for a in addresses))
    finally:
        await first.stop()
        await second.stop()
    assert [received(messenger, a) for a in addresses] == [["Round 1 summary"]] * 3
    assert sorted(doors[0].sent) == addresses and doors[1].sent == []


async def test_a_cut_off_worker_stops_sending_and_a_live_one_delivers_the_rest_once(
        store: Store, other: Store, clock: ManualClock) -> None:
    """The first worker's lock session is terminated while its batch waits on the pacer
    (one message every 3 s): it sends nothing more under that id; once the lock has been
    free for the grace period a live worker takes the rows. Each expert gets one copy."""
    messenger = MemoryMessenger()
    addresses = await queue(store, clock, messenger, 3)
    doors = [Door(messenger), Door(messenger)]
    for door in doors:
        door.open.set()
    slow = {PLATFORM: PacingPolicy(per_second=1 / 3, per_chat_per_second=1.0)}
    first = Dispatcher(store, clock, {PLATFORM: doors[0]}, pacing=slow, **QUICK)
    second = Dispatcher(other, clock, {PLATFORM: doors[1]}, pacing={PLATFORM: None}, **QUICK)
    first.start()
    try:
        await until(lambda: len(doors[0].sent) == 1)  # one out, two waiting on the pacer
        cut = first.worker
        second.start()
        async with other.transaction() as session:
            killed = await session.scalar(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE "
                "locktype = 'advisory' AND classid = :namespace AND objid = :key AND granted"),
                {"namespace": NAMESPACE, "key": lock_key(cut)})
        assert killed == 1
        await until(lambda: all(received(messenger, a) for a in addresses))
        await asyncio.sleep(1.0)  # a duplicate, if any, would arrive now
        async with store.transaction() as session:
            owners = (await session.scalars(select(OutboxMessage.claimed_by)
                                            .order_by(OutboxMessage.id))).all()
            statuses = set((await session.scalars(select(OutboxMessage.status))).all())
    finally:
        await first.stop()
        await second.stop()
    assert [received(messenger, a) for a in addresses] == [["Round 1 summary"]] * 3
    assert statuses == {"delivered"}
    assert owners.count(cut) == 1  # sent before the cut; the rest under other ids
    assert first.worker != cut  # the first worker carries on under a fresh lock


async def test_a_lock_nobody_holds_is_dead_and_a_held_one_is_not(store: Store,
                                                                 other: Store) -> None:
    mine, theirs = WorkerLock(store.engine), WorkerLock(other.engine)
    try:
        me = await mine.acquire()
        them = await theirs.acquire()
        assert not await mine.is_dead(them) and not await theirs.is_dead(me)
        assert not await mine.is_dead(me)  # never judge oneself
        assert not await mine.is_dead("dispatcher-1a2b3c4d")  # holds no lock: unknown
        await theirs.release()
        assert await mine.is_dead(them)
        assert await mine.is_dead(them)  # asking let go of it again
        assert await mine.ping(1.0)
    finally:
        await mine.release()
        await theirs.release()
