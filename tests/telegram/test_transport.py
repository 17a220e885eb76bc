"""Telegram transport details: webhook mode with its secret, stale and garbled buttons,
and `delphi run` as a real process that stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path

from sqlalchemy import func, select

from bot.app.cli import main
from engine.clock import ManualClock
from engine.db import Store
from engine.models import Rating
from tests.engine.helpers import EXAMPLES, loaded
from tests.fakes.telegram_api import running_telegram_fake
from tests.telegram.harness import card_of, command, one_expert_in_round_one, press, running_bot

ROOT = Path(__file__).resolve().parents[2]


async def ratings(store: Store) -> int:
    async with store.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Rating)) or 0


async def test_webhook_mode_and_a_request_without_the_secret(store: Store,
                                                             clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    async with running_telegram_fake() as fake, \
            running_bot(fake, store, clock, spec, mode="webhook") as bot:
        invites = await command(bot.coordinator, "invite", "1", expect="single-use")
        token = invites.visible_text.rsplit("start=", 1)[1].split()[0]
        expert = fake.create_user("Wendy", username="wendy_w")
        consent = await command(expert, "start", token, expect="I agree")
        await press(expert, consent, "I agree to take part")
        await command(bot.coordinator, "openround", "7d", expect="Round 1 is open")
        await bot.deliver()
        card = await expert.wait_for_message(lambda m: card_of(m) == (1, 1, 5))
        assert await press(expert, card, "4") == "Recorded: 4 · Agree"
        assert await ratings(store) == 1
        assert all(d.status == 200 for d in fake.webhook_deliveries)

        fake.override_webhook_secret("not-the-secret")
        nxt = await expert.wait_for_message(lambda m: card_of(m) == (1, 2, 5))
        query = expert.press_button(nxt, "5 · Strongly agree")
        delivery = await fake.wait_for_webhook_delivery(query.update_id)
        assert delivery.status == 403
        fake.override_webhook_secret(None)
        query = expert.press_button(nxt, "5 · Strongly agree")
        delivery = await fake.wait_for_webhook_delivery(query.update_id)
        assert delivery.status == 403
        assert await ratings(store) == 1 and not query.answered


async def test_stale_and_garbled_buttons_get_an_answer_and_write_nothing(
    store: Store, clock: ManualClock
) -> None:
    spec = await loaded(store, clock.now())
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        expert, card = await one_expert_in_round_one(bot)
        # Forged and garbled presses: data no button of ours carries.
        query = expert.press_button(card, "4")
        await query.wait_answered()
        forged = fake.register_callback_query(expert, card, "1|r|1|S01|7")
        fake.push_update("callback_query", {
            "id": forged.id, "from": expert.as_api_user(), "message": card.to_api(),
            "chat_instance": "x", "data": "1|r|1|S01|7"})
        answered = await forged.wait_answered()
        assert answered.show_alert and "from 1 to 5" in (answered.answer_text or "")
        garbled = fake.register_callback_query(expert, card, "\u00ff\u00fe|zz")
        fake.push_update("callback_query", {
            "id": garbled.id, "from": expert.as_api_user(), "message": card.to_api(),
            "chat_instance": "x", "data": "\u00ff\u00fe|zz"})
        answered = await garbled.wait_answered()
        assert answered.show_alert and "not valid" in (answered.answer_text or "")
        # After the round closes, the rated card's "Change" button is stale.
        await command(bot.coordinator, "closeround", expect="Close round 1")
        confirm = bot.coordinator.last_bot_message
        assert confirm is not None
        await press(bot.coordinator, confirm, "Close the round")
        stale = await press(expert, expert.message(card.message_id), "Change")
        assert stale is not None and "round 1" in stale.lower()
        assert await ratings(store) == 1
        assert not fake.internal_errors


async def test_delphi_run_as_a_process(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "tiny.toml", tmp_path / "study.toml")
    async with running_telegram_fake() as fake:
        coordinator = fake.create_user("Carl", username="carl_c")
        config = tmp_path / "config.toml"
        config.write_text(
            '[database]\nurl = "sqlite:///delphi.db"\n[study]\nfile = "study.toml"\n'
            f'[telegram]\ntoken_env = "TEST_TG_TOKEN"\nbase_url = "{fake.base_url}"\n'
            f'base_file_url = "{fake.base_file_url}"\n'
            f'[coordinators]\ntelegram = [{coordinator.id}]\n')
        env = {**os.environ, "TEST_TG_TOKEN": fake.token, "PYTHONPATH": str(ROOT)}
        os.environ["TEST_TG_TOKEN"] = fake.token
        try:
            for argv in (["db", "upgrade"], ["study", "load"]):
                assert await asyncio.to_thread(main, [*argv, "--config", str(config)]) == 0
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.app.cli", "run", "--config", str(config),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
                cwd=tmp_path)
            try:
                await fake.wait_until_polling(timeout=30)
                invites = await command(coordinator, "invite", "1", expect="single-use")
                token = invites.visible_text.rsplit("start=", 1)[1].split()[0]
                expert = fake.create_user("Petra", username="petra_p")
                consent = await command(expert, "start", token, expect="I agree")
                await press(expert, consent, "I agree to take part")
                await command(coordinator, "openround", "7d", expect="Round 1 is open")
                card = await expert.wait_for_message(lambda m: card_of(m) == (1, 1, 5),
                                                     timeout=10)
                assert await press(expert, card, "2") == "Recorded: 2 · Disagree"
            finally:
                process.send_signal(signal.SIGTERM)
                out, err = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode == 0, err.decode()
            assert b"stopped" in out
            assert fake.token.encode() not in out + err  # the secret is never printed
            assert await asyncio.to_thread(
                main, ["export", "--config", str(config), "--out", str(tmp_path / "out")]) == 0
            rows = (tmp_path / "out" / "ratings.csv").read_text().splitlines()
            assert rows == ["round,statement,participant,rating,group", "1,S01,P01,2,"]
        finally:
            os.environ.pop("TEST_TG_TOKEN", None)


async def test_expired_queries_and_unchanged_edits_are_harmless(store: Store,
                                                                clock: ManualClock) -> None:
    """Telegram's "query is too old" and "message is not modified" must not lose a rating
    or stop the bot."""
    spec = await loaded(store, clock.now())
    async with running_telegram_fake(callback_query_ttl=0.0) as fake, \
            running_bot(fake, store, clock, spec) as bot:
        invites = await command(bot.coordinator, "invite", "1", expect="single-use")
        token = invites.visible_text.rsplit("start=", 1)[1].split()[0]
        expert = fake.create_user("Olga", username="olga_o")
        consent = await command(expert, "start", token, expect="I agree")
        expert.press_button(consent, "I agree to take part")  # answered too late: expired
        await expert.wait_for_message(lambda m: "you are on the panel" in m.visible_text)
        await command(bot.coordinator, "openround", "7d", expect="Round 1 is open")
        await bot.deliver()
        card = await expert.wait_for_message(lambda m: card_of(m) == (1, 1, 5))
        expert.press_button(card, "4")
        await expert.wait_for_message(lambda m: card_of(m) == (1, 2, 5), since=card)
        # The same press again on the already edited card: the edit changes nothing.
        again = fake.register_callback_query(expert, expert.message(card.message_id),
                                             "1|r|1|S01|4")
        fake.push_update("callback_query", {
            "id": again.id, "from": expert.as_api_user(),
            "message": expert.message(card.message_id).to_api(), "chat_instance": "x",
            "data": "1|r|1|S01|4"})
        await fake.wait_for_call(
            "editMessageText",
            lambda c: not c.ok and "not modified" in str(c.description).lower())
        second = await expert.wait_for_message(lambda m: card_of(m) == (1, 2, 5) and
                                               m.message_id > card.message_id + 1, since=card)
        assert second is not None
        assert await ratings(store) == 1
        assert not fake.internal_errors
