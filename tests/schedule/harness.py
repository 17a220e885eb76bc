"""An in-process study with a scheduler: conductor, memory chats, dispatcher, ManualClock."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from adapters.memory import MemoryChat, MemoryMessenger
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from bot.dialogue.scheduler import Scheduler
from engine.clock import ManualClock
from engine.db import Store
from engine.models import OutboxMessage, ScheduledTask
from engine.studyfile import StudyFile
from tests.engine.helpers import tiny_study

PLATFORM = "memory"


def study_file(**schedule: Any) -> StudyFile:
    spec = tiny_study()
    return spec.model_copy(update={"schedule": spec.schedule.model_copy(update=schedule)})


class Study:
    """One study, its experts' chats, and the background machinery driven by hand."""

    def __init__(self, store: Store, clock: ManualClock, spec: StudyFile) -> None:
        self.store, self.clock, self.spec = store, clock, spec
        self.messenger = MemoryMessenger()
        self.context = StudyContext(store, clock, spec,
                                    Coordinators(frozenset({(PLATFORM, "coord")})),
                                    invite_link=lambda token: f"token:{token}")
        self.conductor = Conductor(self.context)
        self.coordinator = self.messenger.chat(self.conductor, "coord", "Dr Coordinator")
        self.dispatcher = self.new_dispatcher()
        self.scheduler = self.new_scheduler()

    def new_dispatcher(self, store: Store | None = None) -> Dispatcher:
        return Dispatcher(store or self.store, self.clock, {PLATFORM: self.messenger},
                          coordinators=[(PLATFORM, "coord")])

    def new_scheduler(self, store: Store | None = None) -> Scheduler:
        """A scheduler as a fresh process would build it (e.g. after a restart)."""
        if store is None:
            return Scheduler(self.context, self.conductor.coordination)
        context = StudyContext(store, self.clock, self.spec, self.context.coordinators)
        return Scheduler(context, Conductor(context).coordination)

    async def enrol(self, count: int) -> list[MemoryChat]:
        await self.coordinator.command("invite", str(count))
        tokens = re.findall(r"token:(\S+)", self.coordinator.last.plain_text())
        experts = []
        for index, token in enumerate(tokens):
            chat = self.messenger.chat(self.conductor, f"u{index}", f"Expert {index}")
            await chat.command("start", token)
            await chat.press("I agree to take part")
            experts.append(chat)
        return experts

    async def at(self, moment: datetime) -> Counter[str]:
        """Move the clock, run what is due, deliver what was queued."""
        self.clock.set(moment)
        outcomes = await self.scheduler.run_due()
        await self.dispatcher.run_once()
        return outcomes

    async def after(self, delta: timedelta) -> Counter[str]:
        return await self.at(self.clock.now() + delta)

    async def rate_all(self, chat: MemoryChat, value: str = "4") -> None:
        """Rate the whole (5-statement) ballot and submit it."""
        await self.rate_some(chat, 5, value)
        await chat.press("Submit my ballot")

    async def rate_some(self, chat: MemoryChat, count: int, value: str = "4") -> None:
        await chat.command("ballot")
        for _ in range(count):
            await chat.press(value, chat.messages[-1])

    async def tasks(self) -> list[ScheduledTask]:
        async with self.store.transaction() as session:
            return list((await session.scalars(select(ScheduledTask)
                                               .order_by(ScheduledTask.id))).all())

    async def outbox_count(self, kind: str) -> int:
        async with self.store.transaction() as session:
            return await session.scalar(select(func.count()).select_from(OutboxMessage)
                                        .where(OutboxMessage.kind == kind)) or 0


def texts_of(chat: MemoryChat) -> list[str]:
    return [m.card.plain_text() for m in chat.messages]


def reminders(chat: MemoryChat) -> list[str]:
    return [m.card.plain_text() for m in chat.messages
            if m.card.heading == "A friendly reminder"]
