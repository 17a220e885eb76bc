"""The command table: every command the bot offers is answered, and only coordinators run theirs."""

from __future__ import annotations

from sqlalchemy import select

from adapters.memory import MemoryMessenger
from bot.chat.commands import COORDINATOR_COMMANDS, EXPERT_COMMANDS
from bot.dialogue import commands
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.models import AuditEntry
from tests.engine.helpers import loaded


def test_every_coordinator_command_has_one_handler_and_no_name_is_both() -> None:
    assert tuple(commands.TABLE) == COORDINATOR_COMMANDS
    assert not set(EXPERT_COMMANDS) & set(COORDINATOR_COMMANDS)


async def test_a_stranger_is_refused_every_coordinator_command_and_each_try_is_audited(
        store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators(frozenset({("memory", "coord")}))))
    stranger = MemoryMessenger().chat(conductor, "someone", "Mallory")
    for name in COORDINATOR_COMMANDS:
        reply = await stranger.command(name, "1")
        assert f"/{name} is only for the study coordinators" in str(reply.toast or "") + " ".join(
            c.plain_text() for c in reply.send), name
    async with store.transaction() as session:
        audited = (await session.execute(select(AuditEntry.action, AuditEntry.allowed))).all()
    assert sorted(audited) == sorted((name, False) for name in COORDINATOR_COMMANDS)


async def test_a_command_nobody_offers_is_unknown(store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators(frozenset({("memory", "coord")}))))
    coordinator = MemoryMessenger().chat(conductor, "coord", "Dr Coordinator")
    await coordinator.command("closeroud")
    assert "Unknown command /closeroud" in coordinator.last.plain_text()
