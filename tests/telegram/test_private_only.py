"""Buttons only work in the private chat the card was sent to (python-telegram-bot against
the Telegram fake): a card forwarded into a group or supergroup and pressed there is
refused with the "talk to me in a private chat" sentence and writes nothing, and the bot
never posts a card (a message with buttons or a statement) into a group."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from adapters.telegram.adapter import PRIVATE_ONLY
from bot.chat.cards import card as make_card
from bot.chat.ports import DeliveryError
from engine.clock import ManualClock
from engine.db import Store
from engine.models import Base
from tests.engine.helpers import loaded
from tests.fakes.telegram_api import GroupChat, running_telegram_fake
from tests.fakes.telegram_model import wait_for
from tests.telegram.harness import command, one_expert_in_round_one, running_bot


async def row_counts(store: Store) -> dict[str, int]:
    """Rows in every table: what "writes nothing" is checked against."""
    async with store.transaction() as session:
        return {table.name: await session.scalar(select(func.count()).select_from(table))
                or 0 for table in Base.metadata.sorted_tables}


def only_refusals(group: GroupChat) -> None:
    for message in group.bot_messages:
        assert message.visible_text == PRIVATE_ONLY and not message.buttons, message


async def test_presses_in_groups_are_refused_and_write_nothing(store: Store,
                                                               clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) \
            as bot:
        expert, card = await one_expert_in_round_one(bot)
        close = await command(bot.coordinator, "closeround", expect="Close the round")
        before = await row_counts(store)
        groups = [fake.create_group("Dermatology panel"),
                  fake.create_group("Dermatology staff", supergroup=True)]
        for group in groups:
            forwarded = group.forward(expert, card)
            query = group.press_button(expert, forwarded, "4")
            answered = await query.wait_answered()
            assert answered.show_alert and answered.answer_text == PRIVATE_ONLY
            confirm = group.forward(bot.coordinator, close)
            query = group.press_button(bot.coordinator, confirm, "Close the round")
            answered = await query.wait_answered()
            assert answered.show_alert and answered.answer_text == PRIVATE_ONLY
            # A forwarded card pressed by someone else entirely, too.
            stranger = fake.create_user("Sam")
            query = group.press_button(stranger, forwarded, "5 · Strongly agree")
            assert (await query.wait_answered()).answer_text == PRIVATE_ONLY
            # Commands and text in the group get the sentence in the group, nothing else.
            group.send_text(expert, "/ballot")
            group.send_text(expert, "a comment typed in the group")
            await wait_for(group.chat.changed,
                           lambda g=group: True if len(g.bot_messages) >= 2 else None,
                           limit=5, describe=lambda: "the group was not answered")
            await bot.deliver()
            assert await row_counts(store) == before
            assert forwarded.edit_count == 0 and card.edit_count == 0
        await bot.deliver()
        assert await row_counts(store) == before
        for group in groups:
            assert len(group.bot_messages) == 2  # the answers to /ballot and to the text
            only_refusals(group)
        # The same card still works in the expert's own chat.
        query = expert.press_button(card, "4")
        assert (await query.wait_answered()).answer_text == "Recorded: 4 · Agree"
        # The outbox never sends into a group, whatever address it is given.
        with pytest.raises(DeliveryError, match="not a private chat") as refused:
            await bot.adapter.deliver(str(groups[0].id), [make_card("A card")])
        assert refused.value.permanent
        only_refusals(groups[0])

