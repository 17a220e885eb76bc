"""A bot killed mid-broadcast leaves leases behind; on SQLite the restarted bot takes them
back at once instead of waiting for them to expire."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from adapters.memory import MemoryMessenger
from bot.chat.cards import card
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.outbox import enqueue
from engine.clock import ManualClock
from engine.db import Store
from engine.enrolment import PlatformUser, create_invites, redeem_invite
from engine.models import OutboxMessage
from tests.engine.helpers import loaded


async def test_leases_of_a_dead_dispatcher_are_released_on_sqlite(
    store: Store, clock: ManualClock
) -> None:
    spec = await loaded(store, clock.now())
    messenger = MemoryMessenger()
    async with store.transaction() as session:
        [token] = await create_invites(session, spec.study.id, 1, clock.now())
        expert = await redeem_invite(session, spec.study.id, token,
                                     PlatformUser("memory", "u1", "u1"), clock.now())
        await enqueue(session, spec.study.id, "round_summary", [card("Round 1 summary")],
                      "summary:1", clock.now(), participant_id=expert.id)
        await session.execute(update(OutboxMessage).values(  # a worker that was killed
            claimed_by="dispatcher-dead", claimed_until=clock.now() + timedelta(minutes=2)))
    chat = messenger.chats.setdefault("u1", messenger.chat(None, "u1"))  # type: ignore[arg-type]
    dispatcher = Dispatcher(store, clock, {"memory": messenger})
    released = await dispatcher.recover_orphaned_leases()
    if store.sqlite:
        assert released == 1
        assert await dispatcher.run_once() == 1
        assert [m.card.plain_text() for m in chat.messages] == ["Round 1 summary"]
    else:  # other PostgreSQL workers may be alive: their leases are left to expire
        assert released == 0
        assert await dispatcher.run_once() == 0
        clock.advance(timedelta(minutes=3))
        assert await dispatcher.run_once() == 1
    async with store.transaction() as session:
        assert await session.scalar(select(OutboxMessage.status)) == "delivered"
