"""Reasons, confidence, feedback by group and anonymous replies in Slack: signed requests
to bolt's real endpoint against the Web API fake; the same study as
tests/bot/test_feedback_extras.py. Reasons and replies are written in a modal."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from engine.clock import ManualClock
from engine.db import Store
from engine.models import Comment, Participant, Rating
from tests.bot.test_feedback_extras import GROUPS, ROUND_ONE, spec_with
from tests.engine.helpers import loaded
from tests.fakes.slack_api import FakeSlackApi, SimulatedUser
from tests.slack.harness import (
    SlackStudy,
    everything_seen,
    last_text,
    rating_card,
    running_study,
)

LIKERT = ["1 · Strongly disagree", "2", "3", "4", "5 · Strongly agree"]


@pytest.fixture
async def extras(fake: FakeSlackApi, store: Store, clock: ManualClock,
                 request: pytest.FixtureRequest) -> AsyncIterator[SlackStudy]:
    spec = await loaded(store, clock.now(), spec_with(getattr(request, "param", "all")))
    async with running_study(fake, store, clock, spec) as running:
        await running.enrol(len(GROUPS))
        async with store.transaction() as session:
            ids = (await session.scalars(select(Participant.id).order_by(
                Participant.id))).all()
            for pid, group in zip(ids, GROUPS, strict=True):
                await session.execute(update(Participant).where(Participant.id == pid)
                                      .values(stakeholder_group=group))
        yield running


async def round_one(study: SlackStudy) -> None:
    await study.command(study.coordinator, "openround 7d")
    await study.deliver()
    for index, user in enumerate(study.experts):
        for position in range(1, 6):
            card = rating_card(user, 1, position)
            if index == 1 and position == 1:
                await study.press(user, "Comment", card)
                await study.submit(user, {"comment": "Depends on skin type"})
            await study.press(user, LIKERT[(ROUND_ONE[index] if position == 1 else 5) - 1],
                              card)
        await study.press(user, "Submit my ballot")
    await study.command(study.coordinator, "closeround")
    await study.press(study.coordinator, "Close the round")
    await study.command(study.coordinator, "openround 7d")
    await study.deliver()


async def test_confidence_is_one_tap_on_the_rated_card_in_slack(extras: SlackStudy) -> None:
    await extras.command(extras.coordinator, "openround 7d")
    await extras.deliver()
    user = extras.experts[0]
    card = rating_card(user, 1, 1)
    await extras.press(user, "4", card)
    rated = user.message(card.ts)
    assert [b.text for b in rated.buttons] == ["Low", "Medium", "High", "Change"]
    await extras.press(user, "Low", rated)
    assert "confidence low" in user.message(card.ts).visible_text
    async with extras.store.transaction() as session:
        assert (await session.scalars(select(Rating.confidence))).all() == [1]


async def test_reasons_groups_and_replies_in_slack(extras: SlackStudy) -> None:
    await round_one(extras)
    inside, outside, skipper = extras.experts[0], extras.experts[2], extras.experts[6]
    card = rating_card(outside, 2, 1)
    text = card.visible_text
    assert "Clinic (n = 5): median 3; ratings 1-5: 1·0·3·0·1" in text
    assert "Hospital: too few to show" in text
    assert "[1] Depends on skin type" in text

    await extras.press(outside, "Reply to [1]", card)  # a modal, as for a comment
    modal = outside.modal
    assert modal is not None and modal.title_text == "Anonymous reply"
    await extras.submit(outside, {"comment": "Skin type matters less at these doses."})
    assert "Reply saved on statement 1 (S01)" in "\n".join(m.visible_text
                                                         for m in outside.messages)

    card = rating_card(outside, 2, 1)
    await extras.press(outside, "5 · Strongly agree", card)
    assert "The panel mostly rated 3–3.5. In a line, why 5?" in last_text(outside)
    await extras.press(outside, "Write a reason")
    modal = outside.modal
    assert modal is not None and modal.title_text == "Reason for S01"
    assert "Other experts will see your reason without your name." in modal.visible_text
    await extras.submit(outside, {"comment": "Trials in fair skin show a clear benefit."})
    seen = "\n".join(m.visible_text for m in outside.messages)
    assert "Reason saved on statement 1 (S01)" in seen
    assert "Round 2 · Review" in last_text(outside)

    await extras.press(skipper, "1 · Strongly disagree", rating_card(skipper, 2, 1))
    assert "why 1?" in last_text(skipper)
    await extras.press(skipper, "Skip")
    assert "Round 2 · Review" in last_text(skipper)

    await extras.press(inside, "3", rating_card(inside, 2, 1))
    assert "Round 2 · Review" in last_text(inside)
    assert not any("In a line" in t for t in everything_seen(inside))

    async with extras.store.transaction() as session:
        kinds = sorted((await session.scalars(select(Comment.kind))).all())
    assert kinds == ["comment", "reason", "reply"]
    names = {u.id: (u.real_name, u.display_name, u.id) for u in extras.experts}
    for user in extras.experts:
        seen = "\n".join(everything_seen(user))
        for other in extras.experts:
            if other is not user:
                for secret in names[other.id]:
                    assert secret and secret not in seen


@pytest.mark.parametrize("extras", ["domain", "changed"], indirect=True)
async def test_confidence_per_domain_and_changed_reasons_in_slack(
        extras: SlackStudy) -> None:
    spec = extras.conductor.context.spec
    user: SimulatedUser = extras.experts[0]
    if spec.scale.confidence == "per_domain":
        await extras.command(extras.coordinator, "openround 7d")
        await extras.deliver()
        for position in range(1, 4):
            card = rating_card(user, 1, position)
            await extras.press(user, "4", card)
        rated = user.message(card.ts)
        assert "your ratings on Sun protection" in rated.visible_text
        await extras.press(user, "Medium", rated)
        async with extras.store.transaction() as session:
            assert (await session.scalars(select(Rating.confidence))).all() == [2, 2, 2]
        return
    await round_one(extras)
    await extras.press(user, "5 · Strongly agree", rating_card(user, 2, 1))
    assert "Last round you rated 3; now 5." in last_text(user)
    await extras.press(user, "Skip")
    assert "Round 2 · Review" in last_text(user)
