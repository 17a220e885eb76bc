"""Every input an expert can send over Slack gets an answer (signed requests to bolt's
real endpoint): a file upload, with or without text, while a comment is expected or not;
a comment made only of invisible characters, in the modal or as a DM, is refused like an
empty one and the prompt stays open."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from adapters.slack.render import COMMENT_BLOCK
from engine.clock import ManualClock
from engine.db import Store
from engine.models import Comment
from tests.engine.helpers import loaded
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.harness import (
    SlackStudy,
    last_text,
    rating_card,
    running_study,
    table_counts,
)

INVISIBLE = ["\u200b\u200c\u200d", "\u2060\ufeff", "\u202a\u202e\u2066\u2069", " \u3000 "]


@pytest.fixture
async def study(fake: FakeSlackApi, store: Store, clock: ManualClock) -> AsyncIterator[SlackStudy]:
    spec = await loaded(store, clock.now())
    async with running_study(fake, store, clock, spec) as running:
        yield running


async def test_uploads_and_invisible_comments_are_answered(study: SlackStudy) -> None:
    [expert] = await study.enrol(1)
    await study.command(study.coordinator, "openround 7d")
    await study.deliver()
    card = rating_card(expert, 1, 1)
    reply = await study.slack.send_file(expert)
    await study.adapter.settle()
    assert reply.status == 200
    assert last_text(expert).startswith("I can only read text and button presses: a file "
                                        "cannot be kept.")

    # The comment modal: invisible text is refused inside the modal, which stays open.
    await study.press(expert, "Comment", card)
    assert expert.modal is not None
    before = await table_counts(study.store)
    for text in INVISIBLE:
        reply = await study.submit(expert, {COMMENT_BLOCK: text})
        assert reply.json()["response_action"] == "errors"
        assert "Please type your comment as text" in reply.json()["errors"][COMMENT_BLOCK]
    # A file, and a file with text, while the comment is expected.
    await study.slack.send_file(expert)
    await study.adapter.settle()
    assert last_text(expert).startswith("Please type your comment as text: a file cannot be "
                                        "kept.")
    await study.slack.send_file(expert, "notes.pdf", text="My comment sent with the file")
    await study.adapter.settle()
    assert last_text(expert).startswith("Please type your comment as text: a file cannot be "
                                        "kept, and neither can its caption.")
    # Invisible text typed as a DM while the comment is expected.
    for text in INVISIBLE:
        await study.slack.send_dm(expert, text)
        await study.adapter.settle()
        assert last_text(expert).startswith("The comment is empty (only blank or invisible "
                                            "characters); nothing was saved."), text
    after = await table_counts(study.store)
    assert after.pop("processed_updates") > before.pop("processed_updates")
    assert after == before
    await study.submit(expert, {COMMENT_BLOCK: "Only with SPF 50."})
    assert "Comment saved on statement 1" in last_text(expert)
    async with study.store.transaction() as session:
        assert list(await session.scalars(select(Comment.text))) == ["Only with SPF 50."]


async def test_hostile_coordinator_arguments_over_slack(study: SlackStudy) -> None:
    """The same bounded parser answers ``/delphi`` commands (one sentence, nothing written)."""
    before = await table_counts(study.store)
    for text, sentence in (("invite ²", "Use: /delphi invite &lt;number from 1 to 200&gt;"),
                           ("invite 12345678901234567890123", "Use: /delphi invite"),
                           ("openround 9999-12-31 23:59", "at most 365 days ahead"),
                           ("openround 999d", "at most 365 days ahead"),
                           ("comments ²", "Use: /delphi comments [round number]"),
                           ("hide ²", "Use: /delphi hide &lt;comment number&gt;")):
        reply = await study.command(study.coordinator, text)
        assert reply.status == 200
        assert sentence in last_text(study.coordinator), (text, last_text(study.coordinator))
    after = await table_counts(study.store)
    for table in ("processed_updates", "audit_log"):
        after.pop(table), before.pop(table)
    assert after == before
