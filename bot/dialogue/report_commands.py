"""Coordinator commands for the study's output: /report, /comments, /hide, /unhide.

Listed in :data:`bot.dialogue.commands.TABLE`; the generic command path checks that
the sender is a coordinator and audits every accepted call (with its arguments, so a
hidden comment's number is on the record).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Document, Reply, Section, card
from bot.chat.text import Step, say
from bot.dialogue import arguments, texts
from bot.dialogue.coordination import Coordination
from engine import rounds
from engine.models import Round
from engine.report.moderation import (
    list_comments,
    moderation_round,
    set_hidden,
)

CAPTIONS = {"report.html": "Study report (self-contained HTML)",
            "report.md": "Markdown twin (figures: delphi report)",
            "report.docx": "Word version for the manuscript"}


async def report(coordination: Coordination, session: AsyncSession, args: str,
                 now: datetime) -> Reply:
    from engine.report.build import render_report  # Jinja2, python-docx: on first use
    from engine.report.data import load_report_data

    data = await load_report_data(session, coordination.study_id, now)

    async def render() -> list[Document]:
        built = await asyncio.to_thread(render_report, data, now)
        return [Document(name, content, caption=CAPTIONS[name])
                for name, content in built.documents().items()]

    # Only the reading happens in the transaction; the figures and files are made after
    # the commit, off the event loop (they take seconds on a large study).
    return Reply(send=[card(texts.report_sent(coordination.study_id))], render=render)


async def default_comments_round(session: AsyncSession, study_id: str) -> Round | None:
    """The round a coordinator reads comments of when revising: the last closed one (its
    comments are the feedback of the next round); before any round closed, the open one."""
    closed = await rounds.round_by_status(session, study_id, "closed")
    return closed or await moderation_round(session, study_id)


async def comments(coordination: Coordination, session: AsyncSession, args: str,
                   now: datetime) -> Reply:
    if args.strip():
        number = arguments.number(args, 1, 999, say("Use: ", Step("comments"), " [round number]"))
    else:
        found = await default_comments_round(session, coordination.study_id)
        if found is None:
            return Reply(send=[card("No round has started yet, so there are no comments.")])
        number = found.number
    listed = await list_comments(session, coordination.study_id, number)
    if not listed:
        return Reply(send=[card(f"Round {number} has no comments.")])
    lines = [texts.comment_line(c.id, c.code, c.version, c.text, c.hidden, c.kind, c.reply_to)
             for c in listed]
    return Reply(send=[card(Section("\n".join(lines)),
                            Section(texts.COMMENTS_HINT, "italic"),
                            heading=f"Round {number} comments ({len(listed)})")])


async def _set(coordination: Coordination, session: AsyncSession, args: str,
               hidden: bool) -> Reply:
    command = Step("hide" if hidden else "unhide")
    usage = say("Use: ", command, " <comment number>, e.g. ", command, " 12 (see ",
                Step("comments"), ").")
    given = args.strip().removeprefix("#").split(" ", 1)[0]
    comment_id = arguments.number(given, 1, arguments.MAX_ID, usage)
    comment = await set_hidden(session, coordination.study_id, comment_id, hidden)
    return Reply(send=[card(texts.comment_moderated(comment.id, comment.code, comment.round,
                                                    hidden))])


async def hide(coordination: Coordination, session: AsyncSession, args: str,
               now: datetime) -> Reply:
    return await _set(coordination, session, args, True)


async def unhide(coordination: Coordination, session: AsyncSession, args: str,
                 now: datetime) -> Reply:
    return await _set(coordination, session, args, False)
