"""Reasons, confidence, feedback by group and anonymous replies in Telegram: the real PTB
application against the Bot API fake, the same study as tests/bot/test_feedback_extras.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from engine.clock import ManualClock
from engine.db import Store
from engine.models import Comment, Participant, Rating
from tests.bot.test_feedback_extras import GROUPS, ROUND_ONE, spec_with
from tests.engine.helpers import loaded
from tests.fakes.telegram_api import running_telegram_fake
from tests.fakes.telegram_model import ChatMessage, SimulatedUser
from tests.telegram.harness import RunningBot, card_of, command, press, running_bot

LABELS = ["1 · Strongly disagree", "2", "3", "4", "5 · Strongly agree"]


async def enrol(bot: RunningBot, store: Store) -> list[SimulatedUser]:
    invites = await command(bot.coordinator, "invite", str(len(GROUPS)), expect="single-use")
    tokens = [line.rsplit("start=", 1)[1].split()[0]
              for line in invites.visible_text.splitlines() if "start=" in line]
    experts = []
    for index, token in enumerate(tokens):
        user = bot.fake.create_user(f"Zelda{index}x", username=f"zelda_{index}x")
        consent = await command(user, "start", token, expect="I agree")
        await press(user, consent, "I agree to take part")
        experts.append(user)
    async with store.transaction() as session:
        ids = (await session.scalars(select(Participant.id).order_by(Participant.id))).all()
        for pid, group in zip(ids, GROUPS, strict=True):
            await session.execute(update(Participant).where(Participant.id == pid)
                                  .values(stakeholder_group=group))
    return experts


async def next_card(user: SimulatedUser, after: ChatMessage, wanted: str) -> ChatMessage:
    return await user.wait_for_message(lambda m: wanted in m.visible_text, since=after)


async def round_one(bot: RunningBot, experts: list[SimulatedUser]) -> None:
    await command(bot.coordinator, "openround", "7d", expect="Round 1 is open")
    await bot.deliver()
    for index, user in enumerate(experts):
        card = await user.wait_for_message(lambda m: card_of(m) == (1, 1, 5))
        for position in range(1, 6):
            if index == 1 and position == 1:
                await press(user, card, "Comment")
                sent = user.send_text("Depends on skin type")
                await next_card(user, sent, "Comment saved")
            value = ROUND_ONE[index] if position == 1 else 5
            await press(user, card, LABELS[value - 1])
            card = await user.wait_for_message(
                lambda m, p=position: card_of(m) == (1, p + 1, 5) or "Review" in
                m.visible_text, since=card)
        await press(user, card, "Submit my ballot")
    confirm = await command(bot.coordinator, "closeround", expect="Close round 1 now?")
    await press(bot.coordinator, confirm, "Close the round")
    await bot.coordinator.wait_for_message(lambda m: "Round 1 results" in m.visible_text,
                                           since=confirm)
    await command(bot.coordinator, "openround", "7d", expect="Round 2 is open")
    await bot.deliver()


async def test_confidence_is_one_tap_on_the_rated_card_in_telegram(
        store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now(), spec_with("all"))
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        experts = await enrol(bot, store)
        first = experts[0]
        await command(bot.coordinator, "openround", "7d", expect="Round 1 is open")
        await bot.deliver()
        # Confidence: one optional tap on the rated card, stored with the rating.
        card = await first.wait_for_message(lambda m: card_of(m) == (1, 1, 5))
        await press(first, card, "4")
        await first.wait_until(lambda: "✓" in first.message(card.message_id).visible_text)
        rated = first.message(card.message_id)
        assert rated.buttons and [b.text for b in rated.buttons[0]] == ["Low", "Medium", "High"]
        assert await press(first, rated, "High") == "Noted: confidence high"
        await first.wait_until(lambda: "confidence high" in
                               first.message(card.message_id).visible_text)
    async with store.transaction() as session:
        assert (await session.scalars(select(Rating.confidence))).all() == [3]


async def test_reasons_groups_and_replies_in_telegram(store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now(), spec_with("all"))
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        experts = await enrol(bot, store)
        await round_one(bot, experts)
        inside, outside, skipper = experts[0], experts[2], experts[6]

        card = await outside.wait_for_message(lambda m: card_of(m) == (2, 1, 1))
        text = card.visible_text
        assert "Clinic (n = 5): median 3; ratings 1-5: 1·0·3·0·1" in text
        assert "Hospital: too few to show" in text
        assert "[1] Depends on skin type" in text and "Reply to [1]" in card.button_texts
        # An anonymous reply to the comment shown.
        await press(outside, card, "Reply to [1]")
        ask = await next_card(outside, card, "Send your reply to this comment")
        sent = outside.send_text("Skin type matters less at these doses.")
        await next_card(outside, sent, "Reply saved on statement 1 (S01)")
        # An outlying rating: the reason question, answered in one message.
        card = await outside.wait_for_message(lambda m: card_of(m) == (2, 1, 1), since=ask)
        await press(outside, card, "5 · Strongly agree")
        prompt = await next_card(outside, card, "In a line, why 5?")
        assert "The panel mostly rated 3–3.5" in prompt.visible_text
        assert prompt.button_texts == ["Write a reason", "Skip"]
        sent = outside.send_text("Trials in fair skin show a clear benefit.")
        await next_card(outside, sent, "Reason saved on statement 1 (S01)")
        await next_card(outside, sent, "Round 2 · Review")

        # Skipped in one tap; the ballot goes straight on.
        card = await skipper.wait_for_message(lambda m: card_of(m) == (2, 1, 1))
        await press(skipper, card, "1 · Strongly disagree")
        prompt = await next_card(skipper, card, "In a line, why 1?")
        assert await press(skipper, prompt, "Skip") == "Skipped."
        await next_card(skipper, prompt, "Round 2 · Review")

        # Inside the IQR: no question at all.
        card = await inside.wait_for_message(lambda m: card_of(m) == (2, 1, 1))
        await press(inside, card, "3")
        await next_card(inside, card, "Round 2 · Review")
        assert not any("In a line" in m.visible_text for m in inside.bot_messages)

        async with store.transaction() as session:
            rows = sorted((await session.execute(
                select(Comment.kind, Comment.text, Comment.reply_to))).all(),
                key=lambda r: r[0])
        assert [(k, t) for k, t, _ in rows] == [
            ("comment", "Depends on skin type"),
            ("reason", "Trials in fair skin show a clear benefit."),
            ("reply", "Skin type matters less at these doses.")]
        assert rows[2][2] is not None
        for user in experts:  # no one's name, handle or id in anyone else's chat
            seen = "\n".join(m.visible_text + " ".join(m.button_texts)
                             for m in user.bot_messages)
            for other in experts:
                if other is not user:
                    for secret in (other.first_name, other.username, str(other.id)):
                        assert secret is not None and secret not in seen
        assert not fake.internal_errors


@pytest.mark.parametrize("mode", ["domain", "changed"])
async def test_confidence_per_domain_and_changed_reasons_in_telegram(
        store: Store, clock: ManualClock, mode: str) -> None:
    spec = await loaded(store, clock.now(), spec_with(mode))
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        experts = await enrol(bot, store)
        if mode == "domain":
            await command(bot.coordinator, "openround", "7d", expect="Round 1 is open")
            await bot.deliver()
            user = experts[0]
            card = await user.wait_for_message(lambda m: card_of(m) == (1, 1, 5))
            for position in range(1, 4):
                await press(user, card, "4")
                await user.wait_until(lambda c=card: "✓" in user.message(
                    c.message_id).visible_text)
                rated = user.message(card.message_id)
                card = await user.wait_for_message(
                    lambda m, p=position: card_of(m) == (1, p + 1, 5), since=card)
            assert "your ratings on Sun protection" in rated.visible_text
            await press(user, rated, "Medium")
            async with store.transaction() as session:
                assert (await session.scalars(select(Rating.confidence))).all() == [2, 2, 2]
            return
        await round_one(bot, experts)
        moved = experts[0]  # rated 3 in round 1
        card = await moved.wait_for_message(lambda m: card_of(m) == (2, 1, 1))
        await press(moved, card, "5 · Strongly agree")
        prompt = await next_card(moved, card, "Last round you rated 3; now 5.")
        await press(moved, prompt, "Skip")
        await next_card(moved, prompt, "Round 2 · Review")
