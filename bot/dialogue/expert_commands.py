"""The commands an expert, or anyone, may send: /start, /ballot, /help and the rest.

Listed in :data:`bot.dialogue.commands.TABLE` with who may send each; the table's
:func:`bot.dialogue.commands.run` checks the sender first, so a handler of a panel command
is given the sender's standing and never meets a stranger.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Card, Reply, card
from bot.chat.events import Command, Event
from bot.chat.text import Step, say
from bot.dialogue import relay, texts
from bot.dialogue.context import StudyContext
from engine import ballots, conversation, enrolment, quick
from engine.clock import known_time_zone
from engine.models import Participant
from engine.standing import Standing


class Guide(Protocol):
    """What these commands need of the conductor: the study, the sender's participant
    row, and the card that comes next."""

    @property
    def context(self) -> StudyContext: ...

    def expert(self, found: Standing | None) -> Standing: ...

    async def participant(self, session: AsyncSession, event: Event) -> Participant: ...

    async def continue_ballot(self, session: AsyncSession, expert: Standing) -> Card: ...

    def ballot_card(self, state: ballots.Progress, timezone: str | None) -> Card: ...

    def replayed(self, event: Event) -> Reply: ...

    async def resume_enrolment(self, session: AsyncSession,
                               participant: Participant) -> list[Card]: ...


# handler(guide, session, the command, now) -> the reply to the sender
AnyoneHandler = Callable[[Guide, AsyncSession, Command, datetime], Awaitable[Reply]]
# handler(guide, session, the command, the sender's standing, now) -> the reply
PanelHandler = Callable[[Guide, AsyncSession, Command, Standing, datetime], Awaitable[Reply]]
# at_once(guide, the command, its sender, now) -> the reply in one trip (engine.quick), or
# None when the command's handler must answer it in a transaction of its own
AtOnceHandler = Callable[[Guide, Command, quick.Sender, datetime], Awaitable[Reply | None]]


async def start(guide: Guide, session: AsyncSession, event: Command, now: datetime) -> Reply:
    """Where the sender stands: enrolment resumed, or how to join (a coordinator who is
    not on the panel gets the command list instead)."""
    context = guide.context
    found = await enrolment.find_participant(session, context.study_id, event.who.platform,
                                             event.who.user_id)
    if found is None:
        if event.who in context.coordinators:
            return Reply(send=[texts.expert_help(True)])
        return Reply(send=[texts.need_invite()])
    return Reply(send=await guide.resume_enrolment(session, found))


async def show_help(guide: Guide, session: AsyncSession, event: Command,
                    now: datetime) -> Reply:
    return Reply(send=[texts.expert_help(event.who in guide.context.coordinators)])


async def whoami(guide: Guide, session: AsyncSession, event: Command, now: datetime) -> Reply:
    return Reply(send=[texts.whoami(event.who.platform, event.who.user_id,
                                    event.who in guide.context.coordinators)])


async def ballot(guide: Guide, session: AsyncSession, event: Command, expert: Standing,
                 now: datetime) -> Reply:
    """The next card of the open round; a comment prompt still open is dropped."""
    if expert.awaiting_text:
        await conversation.clear_pending(session, expert.id)
    return Reply(send=[await guide.continue_ballot(session, expert)])


async def ballot_at_once(guide: Guide, event: Command, sender: quick.Sender,
                         now: datetime) -> Reply | None:
    """:func:`ballot` in one trip, from the sender's standing alone (engine.quick.ballot
    says when); None: :func:`ballot` answers."""
    store = guide.context.store
    glance = await store.one_trip(lambda trip: quick.ballot(trip, store.memo, sender, now))
    if glance is None:
        return None
    if glance.progress is None:
        return guide.replayed(event)
    return Reply(send=[guide.ballot_card(glance.progress, glance.expert.timezone)])


async def progress(guide: Guide, session: AsyncSession, event: Command, expert: Standing,
                   now: datetime) -> Reply:
    return Reply(send=[texts.progress_text(await ballots.progress(session, expert),
                                           guide.context.zone(expert.timezone))])


async def withdraw(guide: Guide, session: AsyncSession, event: Command, expert: Standing,
                   now: datetime) -> Reply:
    """Asks to confirm: leaving is one press away, never one command away."""
    if expert.status == "withdrawn":
        return Reply(send=[texts.withdrawn()])
    return Reply(send=[texts.withdraw_confirm()])


async def ask(guide: Guide, session: AsyncSession, event: Command, expert: Standing,
              now: datetime) -> Reply:
    """A question for the coordinators, relayed under the expert's code name."""
    if expert.status == "withdrawn":
        return Reply(send=[texts.withdrawn()])
    participant = await guide.participant(session, event)
    return await relay.to_coordinators(guide.context, session, participant, event.args,
                                       event.update_key, now)


async def timezone(guide: Guide, session: AsyncSession, event: Command, expert: Standing,
                   now: datetime) -> Reply:
    """Shows the time zone times are given in, or sets the sender's own."""
    participant = await guide.participant(session, event)
    zone = event.args.strip()
    shown = guide.context.zone(participant.timezone)
    if not zone:
        return Reply(send=[card(say(
            f"Your time zone is {shown}. To change it send e.g. ", Step("timezone"),
            " Europe/Berlin (an IANA time zone name)."))])
    if not known_time_zone(zone):
        return Reply(send=[card(say(
            f"Your time zone is {shown}. To change it send e.g. ", Step("timezone"),
            " Europe/Berlin (an IANA time zone name). "
            f"{zone[:40]!r} is not a time zone name I know; try a region/city name "
            "like America/New_York or Asia/Tokyo."))])
    participant.timezone = zone
    return Reply(send=[card(f"Times are now shown in {zone}.")])
