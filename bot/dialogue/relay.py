"""An expert and the coordinators talking through the bot, never learning more than a
code name.

An expert's free text outside a prompt, or ``/ask <question>``, goes to every coordinator
under the expert's pseudonym (P07); a coordinator's ``/reply P07 <answer>`` goes back to
that expert. Both go through the outbox, in the transaction of the message that caused
them, like every other message that is not a direct reply; neither side sees the other's
messenger account.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Card, Reply, Section, card
from bot.chat.text import Step, Words, parts_of, say
from bot.delivery.outbox import enqueue
from bot.dialogue.context import StudyContext
from bot.dialogue.coordination import Coordination
from engine.errors import InvalidValue, NotEnrolled
from engine.privacy import participant_by_pseudonym

if TYPE_CHECKING:
    from engine.models import Participant

MAX_MESSAGE = 1200  # a relayed message stays phone-sized with its heading and hint


def _key(kind: str, study_id: str, who: int | str, text: str, update_key: str | None,
         now: datetime) -> str:
    """One outbox row per message: the update id when the platform gave one."""
    origin = update_key or f"{now.isoformat()}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return f"{kind}:{study_id}:{who}:{origin}"


def _checked(text: str, usage: Words) -> str:
    text = text.strip()
    if not text:
        raise InvalidValue(*parts_of(usage))
    if len(text) > MAX_MESSAGE:
        raise InvalidValue(f"Please keep a message under {MAX_MESSAGE} characters (this one "
                           f"has {len(text)}); send the rest in a second message.")
    return text


def question_card(pseudonym: str, text: str) -> Card:
    return card(Section(text, "quote"),
                Section(say("Answer with ", Step("reply"), f" {pseudonym} <your answer>; the "
                            "expert sees it from \"the study coordinators\", and you never see "
                            "their account."), "italic"),
                heading=f"Message from expert {pseudonym}")


def answer_card(text: str) -> Card:
    return card(Section(text, "quote"),
                Section(say("To answer, just write here (or use ", Step("ask"), ")."), "italic"),
                heading="From the study coordinators")


async def to_coordinators(context: StudyContext, session: AsyncSession,
                          participant: Participant, text: str, update_key: str | None,
                          now: datetime) -> Reply:
    """Relay an expert's message to every coordinator under the expert's pseudonym."""
    text = _checked(text, say("Write your question after ", Step("ask"), ", e.g. ",
                              Step("ask"), " How long should a comment be?"))
    coordinators = sorted(context.coordinators.ids)
    if not coordinators:
        return Reply(send=[card("No coordinator can be reached through the bot yet; please "
                                "contact the study team the way you were invited.")])
    message = question_card(participant.pseudonym, text)
    key = _key("ask", context.study_id, participant.id, text, update_key, now)
    for platform, address in coordinators:
        await enqueue(session, context.study_id, "relay_question", [message],
                      f"{key}:{platform}:{address}", now, platform=platform, address=address)
    return Reply(send=[card(say(f"Sent to the study coordinators under your code name "
                                f"{participant.pseudonym}; their answer will come here. Your "
                                "ballot is unchanged: ", Step("ballot"), " continues it."))])


async def reply(coordination: Coordination, session: AsyncSession, args: str,
                now: datetime) -> Reply:
    """``/reply P07 <answer>``: back to the expert, through the outbox."""
    pseudonym, _, text = args.strip().partition(" ")
    text = _checked(text, say("Use: ", Step("reply"), " <code name> <your answer>, e.g. ",
                              Step("reply"), " P07 Yes, please rate it as written."))
    found = await participant_by_pseudonym(session, pseudonym.upper(), coordination.study_id)
    if not found:
        raise NotEnrolled(f"There is no expert {pseudonym!r} in this study; the code name is "
                          "in their message (e.g. P07). Nothing was sent.")
    expert = found[0]
    if expert.status == "withdrawn":
        raise InvalidValue(f"{expert.pseudonym} has withdrawn from the study; nothing was sent.")
    await enqueue(session, coordination.study_id, "relay_answer", [answer_card(text)],
                  _key("reply", coordination.study_id, expert.id, text, None, now), now,
                  participant_id=expert.id)
    return Reply(send=[card(f"Sent to {expert.pseudonym}.")])
