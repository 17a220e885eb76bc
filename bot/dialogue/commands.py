"""Every coordinator command, with its handler and how it takes the study's lock.

One table instead of a registry that modules fill as they are imported: a reader finds here
which function answers ``/extend``, and a new command is one line. Only coordinators may use
these (:data:`bot.chat.commands.COORDINATOR_COMMANDS` lists the same names, in this order);
anyone else is told so and the refused attempt is audited. Expert commands
(:data:`bot.chat.commands.EXPERT_COMMANDS`) are answered by the conductor itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Reply
from bot.chat.events import Command
from bot.chat.text import Step
from bot.dialogue import relay, report_commands, schedule_commands
from bot.dialogue.coordination import Coordination, actor
from engine.audit import record_audit
from engine.locks import hold_study

# handler(coordination, session, the command's arguments, now) -> the reply to the sender
Handler = Callable[[Coordination, AsyncSession, str, datetime], Awaitable[Reply]]


class Locking(Enum):
    """How a command orders itself against other coordinators' changes (engine.locks)."""

    # Takes the study's lock first, so each change has one winner and the loser is refused
    # by the winner's committed state; the default, for a new command too.
    STUDY = "study"
    # Changes nothing, so need not queue behind other changes.
    NONE = "none"
    # Reads what it is based on first, then locks, and refuses when another coordinator
    # changed it in between.
    ITSELF = "itself"


@dataclass(frozen=True)
class CoordinatorCommand:
    handler: Handler
    locking: Locking = Locking.STUDY


TABLE: dict[str, CoordinatorCommand] = {
    "status": CoordinatorCommand(Coordination._status, Locking.NONE),
    "openround": CoordinatorCommand(Coordination._openround),
    "closeround": CoordinatorCommand(Coordination._closeround, Locking.NONE),
    "results": CoordinatorCommand(Coordination._results, Locking.NONE),
    "revise": CoordinatorCommand(Coordination._revise, Locking.ITSELF),
    "drop": CoordinatorCommand(Coordination._drop),
    "add": CoordinatorCommand(Coordination._add),
    "invite": CoordinatorCommand(Coordination._invite),
    "export": CoordinatorCommand(Coordination._export, Locking.NONE),
    "endstudy": CoordinatorCommand(Coordination._endstudy),
    "preview": CoordinatorCommand(Coordination._preview, Locking.NONE),
    "report": CoordinatorCommand(report_commands.report, Locking.NONE),
    "comments": CoordinatorCommand(report_commands.comments, Locking.NONE),
    "hide": CoordinatorCommand(report_commands.hide),
    "unhide": CoordinatorCommand(report_commands.unhide),
    "extend": CoordinatorCommand(schedule_commands.extend, Locking.ITSELF),
    "nudge": CoordinatorCommand(schedule_commands.nudge, Locking.ITSELF),
    "reply": CoordinatorCommand(relay.reply),
}


async def run(coordination: Coordination, session: AsyncSession, event: Command,
              now: datetime) -> Reply:
    """Refuse a non-coordinator, take the lock the command needs, answer, audit."""
    name = event.name.lower()
    coordination.require(event, Step(name))
    command = TABLE[name]
    if command.locking is Locking.STUDY:
        await hold_study(session, coordination.study_id)
    reply = await command.handler(coordination, session, event.args.strip(), now)
    await record_audit(session, coordination.study_id, actor(event), name, True, now,
                       args=event.args.strip()[:500])
    return reply
