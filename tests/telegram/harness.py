"""Running the real bot (PTB application, conductor, outbox) against the Telegram fake."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pydantic import SecretStr

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.settings import TelegramSection
from bot.app.runtime import Service
from bot.dialogue.context import Coordinators
from engine.clock import ManualClock
from engine.db import Store
from engine.studyfile import StudyFile
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_model import ChatMessage, SimulatedUser

CARD = re.compile(r"^Round (\d+) · Statement (\d+) of (\d+)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningBot:
    fake: FakeTelegram
    service: Service
    adapter: TelegramAdapter
    coordinator: SimulatedUser

    async def deliver(self) -> None:
        """Let the outbox dispatcher send everything due now."""
        while await self.service.dispatcher.run_once():
            pass


@asynccontextmanager
async def running_bot(fake: FakeTelegram, store: Store, clock: ManualClock, spec: StudyFile,
                      mode: str = "polling", secret: str = "s3cret-token") -> AsyncIterator[
                          RunningBot]:
    coordinator = fake.create_user("Carol", username="carol_coord", last_name="Coordinator")
    settings = TelegramSection(token=SecretStr(fake.token), base_url=fake.base_url,
                               base_file_url=fake.base_file_url, mode=mode)  # type: ignore[arg-type]
    if mode == "webhook":
        port = free_port()
        settings = settings.model_copy(update={
            "webhook_url": f"http://127.0.0.1:{port}/telegram", "port": port,
            "listen": "127.0.0.1", "secret_token": SecretStr(secret)})
    service = Service(store, clock, spec, Coordinators.of(telegram=[coordinator.id]),
                      lambda dialogue: [TelegramAdapter(dialogue, settings, rate_limit=False)])
    [adapter] = service.adapters
    assert isinstance(adapter, TelegramAdapter)
    service.dispatcher.poll_seconds = 0.05
    await service.start()
    try:
        yield RunningBot(fake, service, adapter, coordinator)
    finally:
        await service.stop()


def card_of(message: ChatMessage) -> tuple[int, int, int] | None:
    match = CARD.match(message.visible_text)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


async def press(user: SimulatedUser, message: ChatMessage, label: str) -> str | None:
    """Press a button as a person would and wait for Telegram to confirm the tap."""
    query = user.press_button(message, label)
    answered = await query.wait_answered()
    return answered.answer_text


async def command(user: SimulatedUser, name: str, *args: str,
                  expect: str | None = None) -> ChatMessage:
    """Send ``/name args`` and wait for the bot's answer (containing ``expect``, in its text
    or on a button, when given)."""
    sent = user.send_command(name, *args)

    def matches(message: ChatMessage) -> bool:
        return expect is None or expect in message.visible_text or any(
            expect in text for text in message.button_texts)

    return await user.wait_for_message(matches, since=sent)


async def one_expert_in_round_one(bot: RunningBot) -> tuple[SimulatedUser, ChatMessage]:
    """Invite and enrol one expert, open round 1 and deliver its first card: the set-up of
    the tests that press buttons on that card."""
    invites = await command(bot.coordinator, "invite", "1", expect="single-use")
    token = invites.visible_text.rsplit("start=", 1)[1].split()[0]
    expert = bot.fake.create_user("Greta", username="greta_g")
    consent = await command(expert, "start", token, expect="I agree")
    await press(expert, consent, "I agree to take part")
    await command(bot.coordinator, "openround", "7d", expect="Round 1 is open")
    await bot.deliver()
    return expert, await expert.wait_for_message(lambda m: card_of(m) == (1, 1, 5))
