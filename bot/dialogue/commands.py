"""Every command the bot answers: who may send it, and which function answers it.

One table instead of a registry that modules fill as they are imported: a reader finds here
which function answers ``/extend`` or ``/ballot`` and who may send it, and a new command is
one line. :data:`bot.chat.commands.EXPERT_COMMANDS` and
:data:`bot.chat.commands.COORDINATOR_COMMANDS` list the same names, in this order, for the
adapters, which know nothing of the dialogue. :func:`run` checks the sender against the
table before any handler runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Reply, card
from bot.chat.events import Command
from bot.chat.text import Step, say
from bot.dialogue import expert_commands, relay, report_commands, schedule_commands
from bot.dialogue.coordination import Coordination, actor
from bot.dialogue.expert_commands import AnyoneHandler, AtOnceHandler, Guide, PanelHandler
from engine import quick
from engine.audit import record_audit
from engine.locks import hold_study
from engine.standing import Standing, ensure_active

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
class ForAnyone:
    """Answered whoever sends it; the answer may depend on who that is."""

    handler: AnyoneHandler


@dataclass(frozen=True)
class ForPanel:
    """Only for people on the panel: anyone else is told how to join. With ``active``,
    only for those taking part now: a withdrawn or ineligible expert is told where they
    stand."""

    handler: PanelHandler
    active: bool = False
    # Answers the command in one trip when the sender's standing alone answers it (the
    # commonest case); the handler answers whatever it leaves.
    at_once: AtOnceHandler | None = None


@dataclass(frozen=True)
class ForCoordinators:
    """Only for the coordinators named in the config: anyone else is told so, and the
    refused attempt is audited. Every use is audited."""

    handler: Handler
    locking: Locking = Locking.STUDY


TABLE: dict[str, ForAnyone | ForPanel | ForCoordinators] = {
    "start": ForAnyone(expert_commands.start),
    "ballot": ForPanel(expert_commands.ballot, active=True,
                       at_once=expert_commands.ballot_at_once),
    "progress": ForPanel(expert_commands.progress, active=True),
    "help": ForAnyone(expert_commands.show_help),
    "withdraw": ForPanel(expert_commands.withdraw),
    "timezone": ForPanel(expert_commands.timezone, active=True),
    "ask": ForPanel(expert_commands.ask),
    "whoami": ForAnyone(expert_commands.whoami),
    "status": ForCoordinators(Coordination._status, Locking.NONE),
    "openround": ForCoordinators(Coordination._openround),
    "closeround": ForCoordinators(Coordination._closeround, Locking.NONE),
    "results": ForCoordinators(Coordination._results, Locking.NONE),
    "revise": ForCoordinators(Coordination._revise, Locking.ITSELF),
    "drop": ForCoordinators(Coordination._drop),
    "add": ForCoordinators(Coordination._add),
    "invite": ForCoordinators(Coordination._invite),
    "export": ForCoordinators(Coordination._export, Locking.NONE),
    "endstudy": ForCoordinators(Coordination._endstudy),
    "preview": ForCoordinators(Coordination._preview, Locking.NONE),
    "report": ForCoordinators(report_commands.report, Locking.NONE),
    "comments": ForCoordinators(report_commands.comments, Locking.NONE),
    "hide": ForCoordinators(report_commands.hide),
    "unhide": ForCoordinators(report_commands.unhide),
    "extend": ForCoordinators(schedule_commands.extend, Locking.ITSELF),
    "nudge": ForCoordinators(schedule_commands.nudge, Locking.ITSELF),
    "reply": ForCoordinators(relay.reply),
}


async def run_at_once(guide: Guide, event: Command, sender: quick.Sender,
                      now: datetime) -> Reply | None:
    """``event`` answered in one trip, if its row says how (``at_once``) and the sender's
    standing alone answers it; None: :func:`run` answers it, in a transaction."""
    command = TABLE.get(event.name.lower())
    if not isinstance(command, ForPanel) or command.at_once is None:
        return None
    return await command.at_once(guide, event, sender, now)


async def run(guide: Guide, coordination: Coordination, session: AsyncSession,
              event: Command, sender: Standing | None, now: datetime) -> Reply:
    """Answer ``event`` by the table, after checking that its sender may send it.

    ``sender``: the sender's standing, read as the event arrived (None: not on the panel).
    """
    name = event.name.lower()
    command = TABLE.get(name)
    if command is None:
        return Reply(send=[card(say(f"Unknown command /{name}. Send ", Step("help"),
                                    " for the list."))])
    if isinstance(command, ForAnyone):
        return await command.handler(guide, session, event, now)
    if isinstance(command, ForPanel):
        expert = guide.expert(sender)
        if command.active:
            ensure_active(expert)
        return await command.handler(guide, session, event, expert, now)
    return await _coordinate(command, coordination, session, event, now)


async def _coordinate(command: ForCoordinators, coordination: Coordination,
                      session: AsyncSession, event: Command, now: datetime) -> Reply:
    """Refuse a non-coordinator, take the lock the command needs, answer, audit."""
    name = event.name.lower()
    coordination.require(event, Step(name))
    if command.locking is Locking.STUDY:
        await hold_study(session, coordination.study_id)
    reply = await command.handler(coordination, session, event.args.strip(), now)
    await record_audit(session, coordination.study_id, actor(event), name, True, now,
                       args=event.args.strip()[:500])
    return reply
