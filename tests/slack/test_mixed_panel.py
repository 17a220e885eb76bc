"""One study, one panel on two messengers: two experts on Telegram, two on Slack, the
coordinator on Slack, all served by one ``Service`` (as ``delphi run`` starts it: both
adapters, one database, one outbox dispatcher).

Everyone gets exactly one summary; comments cross platforms escaped for each platform's
markup; nobody sees anybody's identity; and the export is byte-for-byte what the same
study gives when run on a single platform (the in-memory adapter), so the data set does
not depend on where the experts were.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from adapters.memory import MemoryMessenger
from adapters.slack.adapter import SlackAdapter
from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.settings import TelegramSection
from bot.app.runtime import Service
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.exports import export_tables
from engine.studyfile import StudyFile
from tests.engine.helpers import loaded
from tests.fakes.slack_api import running_slack_fake
from tests.fakes.slack_client import SlackPlatformClient
from tests.fakes.telegram_api import running_telegram_fake
from tests.fakes.telegram_model import ChatMessage
from tests.fakes.telegram_model import SimulatedUser as TelegramUser
from tests.slack.harness import (
    SIGNING_SECRET,
    TOKENS,
    SlackStudy,
    card_of,
    last_text,
    rate_round,
    slack_settings,
)
from tests.telegram.harness import card_of as telegram_card_of

# Round 1 ratings by join order (experts 0, 1 on Telegram; 2, 3 on Slack).
PLAN: list[list[int | None]] = [[5, 5, 4, 2, 5], [4, 5, 4, 1, 5], [5, 4, 1, 2, 4],
                                [4, 2, 2, None, 5]]
FROM_TELEGRAM = "Depends on <b>skin type</b> & co"
FROM_SLACK = "Not in summer <@U123> <!channel>"
COMMENTS = {(1, 3): FROM_TELEGRAM, (2, 3): FROM_SLACK}  # (expert, position) -> comment
REVISION = "S03 Protective clothing is more reliable than sunscreen in strong sun."
LABELS = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree",
          "Strongly agree"]


def plan_of(expert: int) -> Callable[[int], int | None]:
    return lambda position: PLAN[expert][position - 1]


def label(value: int | None) -> str:
    if value is None:
        return "Unable to rate"
    return f"{value} · {LABELS[value - 1]}" if value in (1, 5) else str(value)


async def tg_press(user: TelegramUser, message: ChatMessage, text: str) -> None:
    await user.press_button(message, text).wait_answered()


def next_card(position: int) -> Callable[[ChatMessage], bool]:
    return lambda m: telegram_card_of(m) == (1, position, 5) or (
        position > 5 and "Review" in m.visible_text)


async def rate_in_telegram(user: TelegramUser, plan: list[int | None],
                           comments: dict[int, str]) -> None:
    card = await user.wait_for_message(lambda m: telegram_card_of(m) == (1, 1, 5))
    for position, value in enumerate(plan, start=1):
        if position in comments:
            await tg_press(user, card, "Comment")
            await user.wait_for_message(lambda m: "Send your comment" in m.visible_text,
                                        since=card)
            sent = user.send_text(comments[position])
            await user.wait_for_message(lambda m: "Comment saved" in m.visible_text, since=sent)
        await tg_press(user, card, label(value))
        wanted = position + 1
        card = await user.wait_for_message(next_card(wanted), since=card)
    await tg_press(user, card, "Submit my ballot")


async def test_mixed_panel_one_study_one_outbox(store: Store, clock: ManualClock,
                                                tmp_path: Path) -> None:
    spec = await loaded(store, clock.now())
    async with running_telegram_fake() as telegram_api, running_slack_fake() as slack_api:
        carol = slack_api.create_user("carol", real_name="Carol Coordinator")
        telegram_settings = TelegramSection(
            token=SecretStr(telegram_api.token), base_url=telegram_api.base_url,
            base_file_url=telegram_api.base_file_url)
        service = Service(store, clock, spec, Coordinators.of(slack=[carol.id]),
                          lambda dialogue: [
                              TelegramAdapter(dialogue, telegram_settings, rate_limit=False),
                              SlackAdapter(dialogue, slack_settings(slack_api), port=0)])
        conductor = service.conductor
        slack = service.adapters[1]
        assert isinstance(slack, SlackAdapter)
        service.dispatcher.poll_seconds = 0.05
        await service.start()
        try:
            assert slack.url is not None
            async with SlackPlatformClient(slack_api, bolt_url=slack.url,
                                           signing_secret=SIGNING_SECRET) as client:
                study = SlackStudy(slack_api, store, clock, conductor, slack, client, carol,
                                   service.dispatcher)
                await study.command(carol, "invite 4")
                invites = last_text(carol)
                assert "https://t.me/delphi_test_bot?start=" in invites  # both forms offered
                tokens = TOKENS.findall(invites)
                assert len(tokens) == 4

                on_telegram = [telegram_api.create_user(f"Tess{n}", username=f"tess_{n}",
                                                        last_name=f"Gram{n}") for n in (0, 1)]
                for tess, token in zip(on_telegram, tokens[:2], strict=True):
                    consent = await tess.wait_for_message(
                        lambda m: "I agree" in " ".join(m.button_texts), since=tess.start(token))
                    await tg_press(tess, consent, "I agree to take part")
                on_slack = [slack_api.create_user(f"sally{n}", real_name=f"Sally Slack{n}")
                            for n in (2, 3)]
                for sally, token in zip(on_slack, tokens[2:], strict=True):
                    await study.command(sally, f"join {token}")
                    await study.press(sally, "I agree to take part")

                await study.command(carol, "openround 7d")
                for sally in on_slack:
                    await sally.wait_for_message(lambda m: card_of(m) == (1, 1, 5))

                def comments_of(index: int) -> dict[int, str]:
                    return {p: text for (e, p), text in COMMENTS.items() if e == index}

                await asyncio.gather(
                    *(rate_in_telegram(tess, PLAN[i], comments_of(i))
                      for i, tess in enumerate(on_telegram)),
                    *(rate_round(study, sally, 1, plan_of(i), comments_of(i))
                      for i, sally in enumerate(on_slack, start=2)))

                await study.command(carol, "closeround")
                assert "4 of 4 experts have submitted" in last_text(carol)
                await study.press(carol, "Close the round")
                for tess in on_telegram:
                    await tess.wait_for_message(lambda m: "Round 1 has closed" in m.visible_text)
                for sally in on_slack:
                    await sally.wait_for_message(lambda m: "Round 1 has closed" in m.visible_text)

                await study.command(carol, f"revise {REVISION}")
                await study.command(carol, "openround 7d")
                slack_card = await on_slack[1].wait_for_message(
                    lambda m: card_of(m) == (2, 1, 1))
                telegram_card = await on_telegram[0].wait_for_message(
                    lambda m: telegram_card_of(m) == (2, 1, 1))
                await drain(service.dispatcher)

                # Each platform shows the other's comment as typed, never as markup.
                assert "&lt;b&gt;skin type&lt;/b&gt; &amp; co" in slack_card.visible_text
                assert FROM_SLACK in telegram_card.visible_text
                assert "<b>" not in slack_card.visible_text
                for tess in on_telegram:
                    assert len([m for m in tess.bot_messages
                                if "Round 1 has closed" in m.visible_text]) == 1
                for sally in on_slack:
                    assert len([m for m in sally.messages
                                if "Round 1 has closed" in m.visible_text]) == 1

                secrets: list[str] = [
                    *(s or "" for t in on_telegram
                      for s in (t.first_name, t.username, str(t.id), t.last_name)),
                    *(s for u in [*on_slack, carol] for s in (u.id, u.name, u.real_name))]
                for tess in on_telegram:
                    seen = "\n".join(m.visible_text for m in tess.bot_messages)
                    own = {tess.first_name, tess.username, str(tess.id), tess.last_name}
                    assert [s for s in secrets if s not in own and s and s in seen] == []
                for sally in on_slack:
                    seen = "\n".join(m.visible_text for m in sally.messages)
                    mine = {sally.id, sally.name, sally.real_name}
                    assert [s for s in secrets if s not in mine and s and s in seen] == []

                await study.command(carol, "export")
                mixed = {f.filename: (f.content or b"").decode() for f in carol.files
                         if f.filename.endswith(".csv")}
        finally:
            await service.stop()
    single = await single_platform_export(spec, clock, tmp_path)
    assert arrival_ids_ranked(mixed) == arrival_ids_ranked(single)
    assert mixed["ratings.csv"].splitlines()[0] == "round,statement,participant,rating,group"


def arrival_ids_ranked(exports: dict[str, str]) -> dict[str, str]:
    """The exports with comment ids replaced by the row they name.

    A comment's ``id`` is its database identity (the number ``/hide`` takes), so it
    follows the order comments arrived in, which differs between a concurrent panel
    and a sequential one. The rows are in a data-determined order; ``reply_to`` is
    rewritten to the row number it answers, so a reply still points at its comment.
    """
    rows = list(csv.DictReader(io.StringIO(exports["comments.csv"])))
    row_of = {row["id"]: str(number) for number, row in enumerate(rows, start=1)}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row | {"id": "", "reply_to": row_of.get(row["reply_to"], "")})
    return exports | {"comments.csv": out.getvalue()}


async def drain(dispatcher: Dispatcher) -> None:
    while await dispatcher.run_once():
        pass


async def single_platform_export(spec: StudyFile, clock: ManualClock,
                                 tmp_path: Path) -> dict[str, str]:
    """The same study, the same answers, the same join order, on one platform."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'single.db'}")
    await store.create_all()
    try:
        await loaded(store, clock.now(), spec)
        conductor = Conductor(StudyContext(
            store, clock, spec, Coordinators(frozenset({("memory", "coord")})),
            invite_link=lambda token: f"token:{token}"))
        messenger = MemoryMessenger()
        coordinator = messenger.chat(conductor, "coord")
        await coordinator.command("invite", "4")
        tokens = [line.removeprefix("token:")
                  for line in coordinator.last.sections[-1].text.splitlines()]
        experts = []
        for index, token in enumerate(tokens):
            chat = messenger.chat(conductor, f"u{index}")
            await chat.command("start", token)
            await chat.press("I agree to take part")
            experts.append(chat)
        await coordinator.command("openround", "7d")
        await drain(Dispatcher(store, clock, {"memory": messenger}))
        for index, chat in enumerate(experts):
            for position, value in enumerate(PLAN[index], start=1):
                if (index, position) in COMMENTS:
                    await chat.press("Comment")
                    await chat.say(COMMENTS[(index, position)])
                await chat.press("Unable to rate" if value is None else str(value))
            await chat.press("Submit my ballot")
        await coordinator.command("closeround")
        await coordinator.press("Close the round")
        await coordinator.command("revise", REVISION)
        await coordinator.command("openround", "7d")
        async with store.transaction() as session:
            return await export_tables(session, spec.study.id)
    finally:
        await store.dispose()
