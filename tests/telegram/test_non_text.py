"""Every input an expert can send gets an answer (python-telegram-bot against the fake).

While a comment is expected, a photo, sticker, voice note, location, document or contact
gets "Please type your comment as text" and the prompt stays open; a caption is answered,
not silently dropped or half-stored; a comment or a revised statement made only of
invisible characters is refused like an empty one. Outside a prompt, non-text input gets
a sentence too.
"""

from __future__ import annotations

from sqlalchemy import select

from engine.clock import ManualClock
from engine.db import Store
from engine.models import Comment, Statement, StatementVersion
from tests.engine.helpers import loaded
from tests.fakes.telegram_api import running_telegram_fake
from tests.fakes.telegram_model import SimulatedUser
from tests.telegram.harness import command, one_expert_in_round_one, press, running_bot
from tests.telegram.test_private_only import row_counts

KINDS = {"photo": "a photo", "sticker": "a sticker", "voice": "a voice note",
         "location": "a location", "document": "a document", "contact": "a contact",
         "video": "a video", "audio": "an audio file", "video_note": "a video note"}
INVISIBLE = ["\u200b", "\u200c\u200d", "\u2060\ufeff", "\u202a\u202b\u202c\u202d\u202e",
             "\u2066\u2067\u2068\u2069", " \u200b \t\u3000\u200e\u200f ", "\u3164", "\u2800"]


async def _answer(user: SimulatedUser, sent_id: int) -> str:
    return (await user.wait_for_message(since=sent_id)).visible_text


async def test_non_text_and_invisible_input_is_answered_and_stores_nothing(
        store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        expert, card = await one_expert_in_round_one(bot)
        # Outside a comment prompt.
        for kind, named in KINDS.items():
            sent = expert.send_media(kind)
            answer = await _answer(expert, sent.message_id)
            assert answer.startswith(f"I can only read text and button presses: {named} "
                                     "cannot be kept."), answer
        stranger = fake.create_user("Nina")
        sent = stranger.send_media("photo", caption="hello")
        assert "invite" in await _answer(stranger, sent.message_id)
        # Inside a comment prompt.
        assert await press(expert, card, "Comment") is not None
        await expert.wait_for_message(lambda m: "Send your comment" in m.visible_text)
        before = await row_counts(store)
        for kind, named in KINDS.items():
            sent = expert.send_media(kind)
            answer = await _answer(expert, sent.message_id)
            assert answer.startswith(f"Please type your comment as text: {named} cannot be "
                                     "kept."), answer
        sent = expert.send_media("photo", caption="Sunscreen alone is not enough")
        answer = await _answer(expert, sent.message_id)
        assert answer.startswith("Please type your comment as text: a photo cannot be kept, "
                                 "and neither can its caption."), answer
        for text in INVISIBLE:
            sent = expert.send_text(text)
            answer = await _answer(expert, sent.message_id)
            assert answer.startswith("The comment is empty (only blank or invisible "
                                     "characters); nothing was saved."), (text, answer)
        after = await row_counts(store)
        assert after.pop("processed_updates") > before.pop("processed_updates")
        assert after == before
        # The prompt is still open: a typed comment is taken.
        sent = expert.send_text("Sunscreen alone is not enough.")
        assert "Comment saved" in await _answer(expert, sent.message_id)
        async with store.transaction() as session:
            assert list(await session.scalars(select(Comment.text))) == [
                "Sunscreen alone is not enough."]
        # A revised statement made of invisible characters is refused like an empty one.
        await command(bot.coordinator, "closeround", expect="Close the round")
        confirm = bot.coordinator.last_bot_message
        assert confirm is not None
        await press(bot.coordinator, confirm, "Close the round")
        await bot.coordinator.wait_for_message(lambda m: "Round 1 results" in m.visible_text)
        before = await row_counts(store)
        for text in ["\u200b\u200d", "\u202e\u2066\u2069", "\ufeff \u2060"]:
            answer = await command(bot.coordinator, "revise", f"S01 {text}",
                                   expect="statement text is empty")
            assert "nothing was changed" in answer.visible_text
        answer = await command(bot.coordinator, "add", "\u200b | A new statement.",
                               expect="Give a domain")
        after = await row_counts(store)
        after.pop("processed_updates"), before.pop("processed_updates")
        after.pop("audit_log"), before.pop("audit_log")
        assert after == before
        async with store.transaction() as session:
            assert await session.scalar(select(StatementVersion.text).where(
                StatementVersion.version == 2)) is None
        # An invisible drop reason is no reason.
        await command(bot.coordinator, "drop", "S05 \u200b\u2066", expect="S05 dropped")
        async with store.transaction() as session:
            assert await session.scalar(select(Statement.drop_reason).where(
                Statement.code == "S05")) is None

