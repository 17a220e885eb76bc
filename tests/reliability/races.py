"""Two coordinators (or two experts) on two connection pools, as two `delphi run` workers
would be, sending their requests at the same moment: released together by a barrier."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import func, select, text

from adapters.memory import MemoryChat, MemoryMessenger
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from bot.dialogue.scheduler import Scheduler
from engine.clock import ManualClock
from engine.db import Store
from engine.studyfile import StudyFile

PLATFORM = "memory"
COORDINATORS = Coordinators(frozenset({(PLATFORM, "coord"), (PLATFORM, "coord2")}))
T = TypeVar("T")


async def together(*calls: Callable[[], Awaitable[T]]) -> list[T]:
    """Run the calls concurrently, each starting only when all are ready."""
    barrier = asyncio.Barrier(len(calls))

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        await barrier.wait()
        return await call()

    return list(await asyncio.gather(*(run(call) for call in calls)))


class TwoWorkers:
    """One study served by two conductors, each with its own store (connection pool)."""

    def __init__(self, stores: tuple[Store, Store], clock: ManualClock,
                 spec: StudyFile) -> None:
        self.stores, self.clock, self.spec = stores, clock, spec
        self.messenger = MemoryMessenger()
        self.conductors = [Conductor(StudyContext(
            store, clock, spec, COORDINATORS,
            invite_link=lambda token: f"token:{token}"))
                           for store in stores]
        self.coordinators = [MemoryChat(self.conductors[0], "coord", "Cora"),
                             MemoryChat(self.conductors[1], "coord2", "Cole")]
        for chat in self.coordinators:
            self.messenger.chats[chat.user_id] = chat
        self.dispatcher = Dispatcher(stores[0], clock, {PLATFORM: self.messenger},
                                     coordinators=sorted(COORDINATORS.ids))
        self.scheduler = Scheduler(self.conductors[0].context, self.conductors[0].coordination)

    async def warm_up(self) -> None:
        """Connect both pools now, so neither request of a race pays for connecting."""
        for store in self.stores:
            async with store.transaction() as session:
                await session.execute(select(1))

    def expert(self, user_id: str, worker: int = 0) -> MemoryChat:
        chat = MemoryChat(self.conductors[worker], user_id, f"Expert {user_id}")
        self.messenger.chats.setdefault(user_id, chat)
        return chat

    async def invites(self, count: int) -> list[str]:
        await self.coordinators[0].command("invite", str(count))
        return re.findall(r"token:(\S+)", self.coordinators[0].last.plain_text())

    async def enrol(self, count: int) -> list[MemoryChat]:
        experts = []
        for index, token in enumerate(await self.invites(count)):
            chat = self.expert(f"u{index}")
            await chat.command("start", token)
            await chat.press("I agree to take part")
            experts.append(chat)
        return experts

    async def count(self, model: Any, *where: Any) -> int:
        async with self.stores[0].transaction() as session:
            return await session.scalar(
                select(func.count()).select_from(model).where(*where)) or 0

    async def deliver(self) -> None:
        while await self.dispatcher.run_once():
            pass


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    """Log records that carry an exception or are errors: a lost race must leave none."""
    return [record.getMessage() for record in records
            if record.exc_info or record.levelno >= logging.ERROR]


async def waiting_on_locks(store: Store, application: str) -> int:
    """PostgreSQL sessions of ``application`` now waiting for a lock."""
    async with store.engine.connect() as connection:
        return (await connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
            "AND wait_event_type = 'Lock'"), {"name": application})).scalar_one()
