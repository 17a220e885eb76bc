"""The dispatcher through the real TelegramAdapter (PTB) against the Bot API fake with its
flood limits on (30/s overall, 1/s per chat) and injected 429s, 5xx and a blocked user.

The fake's flood clock is the study's ManualClock, so the dispatcher's retries (driven by
``not_before`` in study time) meet the fake's windows without any real waiting. The
dispatcher's own pacing is off here so that the limits are actually hit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.settings import TelegramSection
from bot.chat.cards import card
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.outbox import enqueue
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.enrolment import PlatformUser, create_invites, record_consent, redeem_invite
from engine.models import OutboxMessage, Participant
from tests.engine.helpers import loaded, tiny_study
from tests.fakes.telegram_api import FakeTelegram, running_telegram_fake
from tests.fakes.telegram_controls import InjectedFailure

EXPERTS = 40
PER_EXPERT = 3


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeTelegram]:
    start = clock.now()
    async with running_telegram_fake(
            clock=lambda: (clock.now() - start).total_seconds()) as fake:
        yield fake


async def test_429s_5xx_and_a_blocked_user_lose_nothing_and_keep_order(
        fake: FakeTelegram, store: Store, clock: ManualClock) -> None:
    spec = tiny_study()
    await loaded(store, clock.now(), spec)
    users = fake.create_users(EXPERTS, started=True)
    coordinator = fake.create_user("Carol", started=True)
    now = clock.now()
    async with store.transaction() as session:
        tokens = await create_invites(session, spec.study.id, EXPERTS, now)
        ids = []
        for user, token in zip(users, tokens, strict=True):
            who = PlatformUser("telegram", str(user.id), str(user.id), user.first_name, None)
            participant = await redeem_invite(session, spec.study.id, token, who, now)
            await record_consent(session, participant.id, True, now)
            ids.append(participant.id)
        for n in range(PER_EXPERT):  # interleaved, as several broadcasts would be
            for participant_id in ids:
                await enqueue(session, spec.study.id, "test", [card(f"message {n}")],
                              f"test:{participant_id}:{n}", now, participant_id=participant_id)
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators.of(telegram=[coordinator.id])))
    settings = TelegramSection(token=SecretStr(fake.token), base_url=fake.base_url,
                               base_file_url=fake.base_file_url)
    adapter = TelegramAdapter(conductor, settings, rate_limit=False)
    await adapter.app.initialize()
    dispatcher = Dispatcher(store, clock, {"telegram": adapter}, pacing={"telegram": None},
                            coordinators=[("telegram", str(coordinator.id))])

    fake.rate_limits.enable(global_per_second=30, per_chat_per_second=1)
    fake.inject_failure(InjectedFailure.flood(3), method="sendMessage", times=4)
    fake.inject_failure(InjectedFailure.server_error(), method="sendMessage", times=3)
    fake.inject_failure(InjectedFailure.bad_gateway(), method="sendMessage",
                        chat_id=users[5].id, times=1)
    gone = users[7]
    gone.block_bot()
    try:
        for _ in range(60):
            await dispatcher.run_once()
            async with store.transaction() as session:
                left = (await session.scalars(select(OutboxMessage.id).where(
                    OutboxMessage.status == "pending"))).all()
            if not left:
                break
            clock.advance(timedelta(seconds=1))
    finally:
        await adapter.app.shutdown()
    assert not left

    sends = fake.calls_to("sendMessage")
    assert sum(c.status == 429 for c in sends) > 0  # the limits were really hit
    for user in users:
        texts = [m.visible_text for m in user.bot_messages]
        if user is gone:
            assert texts == []
        else:  # zero lost, none twice, in order
            assert texts == [f"message {n}" for n in range(PER_EXPERT)], (user.id, texts)
    to_gone = [c.status for c in sends if c.params.get("chat_id") == gone.id]
    assert to_gone[-1] == 403 and to_gone.count(403) == 1  # no retry storm after the 403
    async with store.transaction() as session:
        unreachable = (await session.scalars(select(Participant.id).where(
            Participant.unreachable_since.is_not(None)))).all()
    assert unreachable == [ids[7]]
    told = [m.visible_text for m in coordinator.bot_messages]
    assert len(told) == 1 and "can no longer be reached" in told[0]
    assert gone.first_name not in told[0]
