"""The outbox dispatcher: exactly one copy after a crash, order per chat under retries,
multi-card rows resumed where they failed, blocked experts, two dispatchers at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from adapters.memory import MemoryMessenger
from bot.chat.cards import Card, Document
from bot.chat.ports import DeliveryError
from bot.delivery.dispatcher import LEASE
from engine.clock import ManualClock
from engine.db import Store
from engine.models import OutboxMessage, Participant
from tests.conftest import Backend
from tests.engine.helpers import loaded
from tests.schedule.harness import PLATFORM, Study, study_file, texts_of


class ScriptedMessenger(MemoryMessenger):
    """A memory messenger that can hang after some calls, or fail some cards."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.hang_after: int | None = None
        self.hanging = 0
        self.failures: dict[str, list[DeliveryError]] = {}
        self.blocked: set[str] = set()

    async def deliver(self, address: str, cards: list[Card],
                      documents: list[Document] | None = None) -> None:
        self.calls[address] += 1
        if address in self.blocked:
            raise DeliveryError("Forbidden: bot was blocked by the user", permanent=True)
        if self.failures.get(address):
            raise self.failures[address].pop(0)
        if self.hang_after is not None and sum(self.calls.values()) > self.hang_after:
            self.hanging += 1
            await asyncio.Event().wait()  # a process that froze mid-broadcast
        await super().deliver(address, cards, documents)


async def scripted_study(store: Store, clock: ManualClock) -> tuple[Study, ScriptedMessenger]:
    spec = study_file()
    await loaded(store, clock.now(), spec)
    study = Study(store, clock, spec)
    messenger = ScriptedMessenger()
    messenger.chats = study.messenger.chats
    study.messenger = messenger
    study.dispatcher = study.new_dispatcher()
    return study, messenger


async def pending(store: Store) -> list[OutboxMessage]:
    async with store.transaction() as session:
        return list((await session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == "pending").order_by(OutboxMessage.id))).all())


async def test_a_crash_mid_broadcast_leaves_every_expert_one_copy(
        store: Store, clock: ManualClock) -> None:
    study, messenger = await scripted_study(store, clock)
    experts = await study.enrol(10)
    await study.coordinator.command("openround", "7d")  # 10 rows of two cards each
    messenger.hang_after = 13
    crashed = asyncio.create_task(study.dispatcher.run_once())
    for _ in range(2000):  # until every lane is done or frozen (not a timing assertion)
        await asyncio.sleep(0.005)
        rows = await pending(store)
        if messenger.hanging and messenger.hanging == len(rows):  # the rest are delivered
            break
    crashed.cancel()  # the process dies: no lease is given back
    assert 0 < len(await pending(store)) < 10
    messenger.hang_after = None

    restarted = study.new_dispatcher()
    assert await restarted.run_once() == 0  # the dead process's leases still hold
    clock.advance(LEASE + timedelta(seconds=1))
    assert await restarted.run_once() > 0
    assert await pending(store) == []
    for chat in experts:
        texts = texts_of(chat)
        assert sum("Round 1 is open" in text for text in texts) == 1, texts
        assert sum(text.startswith("Round 1 · Statement 1 of 5") for text in texts) == 1


async def test_a_clean_stop_gives_leases_back(store: Store, clock: ManualClock) -> None:
    study, _ = await scripted_study(store, clock)
    await study.enrol(3)
    await study.coordinator.command("openround", "7d")
    stopping = study.new_dispatcher()
    assert len(await stopping._claim(clock.now())) == 3
    await stopping.release_leases()
    assert await study.new_dispatcher().run_once() == 3  # at once, no lease to wait out


async def test_a_row_that_failed_half_way_resumes_at_the_next_card(
        store: Store, clock: ManualClock) -> None:
    study, messenger = await scripted_study(store, clock)
    [expert] = await study.enrol(1)
    await study.coordinator.command("openround", "7d")
    # The intro goes out, the statement card fails (a 5xx), then is retried alone.
    calls = {"n": 0}
    original = messenger.deliver

    async def second_card_fails_once(address: str, cards: list[Card],
                                     documents: list[Document] | None = None) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise DeliveryError("502 Bad Gateway")
        await original(address, cards, documents)

    messenger.deliver = second_card_fails_once  # type: ignore[method-assign]
    assert await study.dispatcher.run_once() == 0
    [row] = await pending(store)
    assert row.payload["sent"] == 1 and row.attempts == 1
    clock.advance(timedelta(seconds=2))
    assert await study.dispatcher.run_once() == 1
    texts = texts_of(expert)
    assert sum("Round 1 is open" in text for text in texts) == 1
    assert sum(text.startswith("Round 1 · Statement 1 of 5") for text in texts) == 1


async def test_retries_keep_each_chats_order(store: Store, clock: ManualClock) -> None:
    study, messenger = await scripted_study(store, clock)
    experts = await study.enrol(4)
    await study.coordinator.command("openround", "7d")
    await study.coordinator.command("nudge")
    await study.coordinator.command("extend", "2d")
    for index, chat in enumerate(experts):  # each chat fails a few times, differently
        messenger.failures[chat.user_id] = [
            DeliveryError("429", retry_after=float(index + 1)) if n % 2 else
            DeliveryError("timeout") for n in range(index + 1)]
    for _ in range(40):
        await study.dispatcher.run_once()
        clock.advance(timedelta(seconds=1))
    assert await pending(store) == []
    for chat in experts:
        order = [text.split("\n")[0] for text in texts_of(chat)[2:]]
        assert order[0].startswith("Round 1 is open") and order[1].startswith("Round 1 · ")
        assert order[2] == "A friendly reminder" and order[3].startswith("The deadline")
        assert len(order) == 4


async def test_a_blocked_expert_is_unreachable_and_the_coordinator_is_told_once(
        store: Store, clock: ManualClock) -> None:
    study, messenger = await scripted_study(store, clock)
    experts = await study.enrol(3)
    await study.coordinator.command("openround", "7d")
    await study.scheduler.run_due()  # plan the nudges
    await study.coordinator.command("nudge")  # a second row queued for everyone
    blocked = experts[1].user_id
    messenger.blocked.add(blocked)
    for _ in range(5):
        await study.dispatcher.run_once()
        clock.advance(timedelta(minutes=10))
    assert messenger.calls[blocked] == 1  # one attempt; the queued nudge failed with it
    async with store.transaction() as session:
        rows = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.participant_id.is_not(None)).order_by(OutboxMessage.id))).all()
        unreachable = (await session.scalars(select(Participant.pseudonym).where(
            Participant.unreachable_since.is_not(None)))).all()
    statuses = Counter((r.participant_id, r.status) for r in rows)
    assert sum(n for (_, status), n in statuses.items() if status == "failed") == 2
    assert unreachable == ["P02"]
    notices = [t for t in texts_of(study.coordinator) if "can no longer be reached" in t]
    assert len(notices) == 1 and "P02" in notices[0] and "Expert 1" not in notices[0]
    # Scheduled nudges skip the unreachable expert; the others still get theirs.
    assert (await study.at(clock.now().replace(day=9, hour=9)))["skipped:unreachable"] == 1
    assert messenger.calls[blocked] == 1
    # Unblocked and writing again: a later message reaches them and clears the flag.
    messenger.blocked.clear()
    await study.coordinator.command("closeround")
    await study.coordinator.press("Close the round")  # the summary goes to the whole panel
    await study.dispatcher.run_once()
    assert "Round 1 has closed" in experts[1].last.plain_text()
    async with store.transaction() as session:
        assert (await session.scalars(select(Participant.pseudonym).where(
            Participant.unreachable_since.is_not(None)))).all() == []


async def test_two_dispatchers_share_the_work_without_sending_twice(
        backend: Backend, store: Store, clock: ManualClock) -> None:
    """Two `delphi run` processes: two engines on one database (SKIP LOCKED on PostgreSQL,
    the write lock on SQLite); no row goes out twice and each chat keeps its order."""
    study, _ = await scripted_study(store, clock)
    experts = await study.enrol(30)
    await study.coordinator.command("openround", "7d")
    await study.coordinator.command("nudge")
    other = backend.store()
    try:
        first, second = study.new_dispatcher(), study.new_dispatcher(other)
        first.batch = second.batch = 7
        sent = [0, 0]
        while await pending(store):
            a, b = await asyncio.gather(first.run_once(), second.run_once())
            sent[0] += a
            sent[1] += b
    finally:
        await other.dispose()
    assert sum(sent) == 60 and min(sent) > 0
    for chat in experts:
        order = [text.split("\n")[0] for text in texts_of(chat)[2:]]
        assert len(order) == 3 and order[0].startswith("Round 1 is open")
        assert order[2] == "A friendly reminder"


async def test_two_schedulers_close_the_round_once(backend: Backend, store: Store,
                                                   clock: ManualClock) -> None:
    spec = study_file(deadline_action="close")
    await loaded(store, clock.now(), spec)
    study = Study(store, clock, spec)
    await study.enrol(4)
    await study.coordinator.command("openround", "7d")
    await study.scheduler.run_due()
    other = backend.store()
    try:
        clock.set(clock.now() + timedelta(days=7))
        results = await asyncio.gather(study.scheduler.run_due(),
                                       study.new_scheduler(other).run_due())
    finally:
        await other.dispose()
    assert sum(r["closed"] for r in results) == 1
    assert await study.outbox_count("round_summary") == 4
    assert await study.outbox_count("deadline_closed") == 1
    assert PLATFORM == "memory"
