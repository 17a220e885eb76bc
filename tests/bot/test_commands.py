"""The command table: every command the bot offers is answered, by the senders it names."""

from __future__ import annotations

from sqlalchemy import select

from adapters.memory import MemoryMessenger
from bot.chat.commands import COORDINATOR_COMMANDS, EXPERT_COMMANDS, NAMES
from bot.dialogue import commands
from bot.dialogue.conductor import NOT_ON_PANEL, Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.models import AuditEntry
from tests.engine.helpers import loaded


def test_the_table_answers_exactly_the_names_adapters_offer_and_no_name_is_both() -> None:
    for_coordinators = tuple(name for name, command in commands.TABLE.items()
                             if isinstance(command, commands.ForCoordinators))
    for_others = tuple(name for name, command in commands.TABLE.items()
                       if not isinstance(command, commands.ForCoordinators))
    assert for_coordinators == COORDINATOR_COMMANDS
    assert for_others == EXPERT_COMMANDS
    assert set(commands.TABLE) == NAMES
    assert not set(EXPERT_COMMANDS) & set(COORDINATOR_COMMANDS)


async def test_a_stranger_is_told_how_to_join_for_every_panel_command_only(
        store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators(frozenset({("memory", "coord")}))))
    stranger = MemoryMessenger().chat(conductor, "someone", "Mallory")
    for name, command in commands.TABLE.items():
        if isinstance(command, commands.ForCoordinators):
            continue
        reply = await stranger.command(name)
        said = " ".join(c.plain_text() for c in reply.send)
        assert said, name
        assert (NOT_ON_PANEL in said) == isinstance(command, commands.ForPanel), name


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
    stranger = MemoryMessenger().chat(conductor, "someone", "Mallory")
    for chat in (coordinator, stranger):
        await chat.command("closeroud")
        assert chat.last.plain_text() == "Unknown command /closeroud. Send /help for the list."
