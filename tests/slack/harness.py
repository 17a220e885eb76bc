"""Running the real Slack adapter (bolt over HTTP, conductor, store) against the Slack fake.

Requests are signed by :class:`SlackPlatformClient` and posted to bolt's real endpoint;
the adapter acks and works in the background, so every helper waits for
``adapter.settle()`` (no request in flight) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select

from adapters.slack.adapter import SlackAdapter
from adapters.slack.settings import SlackSection
from bot.chat.commands import NAMES
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.models import Base
from engine.studyfile import StudyFile
from tests.fakes.slack_api import FakeMessage, FakeSlackApi, SimulatedUser
from tests.fakes.slack_client import BoltReply, Signing, SlackPlatformClient
from tests.fakes.slack_state import Control

SIGNING_SECRET = "delphi-test-signing-secret"
CARD = re.compile(r"Round (\d+) · Statement (\d+) of (\d+)")
# A command spelled the Telegram way, which a Slack user cannot type.
_NAMES = "|".join(sorted(NAMES, key=len, reverse=True))
BARE_COMMAND = re.compile(rf"(?<![\w/])/({_NAMES})\b")
TOKENS = re.compile(r"/delphi join ([A-Za-z0-9_-]+)")


def slack_settings(fake: FakeSlackApi, **overrides: Any) -> SlackSection:
    values: dict[str, Any] = {"bot_token": SecretStr(fake.bot_token),
                              "signing_secret": SecretStr(SIGNING_SECRET),
                              "api_url": fake.api_url, "mode": "http"}
    values.update(overrides)
    return SlackSection(**values)


@dataclass
class SlackStudy:
    """One study served over Slack: the fake workspace, the bot, the platform client."""

    fake: FakeSlackApi
    store: Store
    clock: ManualClock
    conductor: Conductor
    adapter: SlackAdapter
    slack: SlackPlatformClient
    coordinator: SimulatedUser
    dispatcher: Dispatcher
    experts: list[SimulatedUser] = field(default_factory=list)

    async def deliver(self) -> int:
        """Run the outbox dispatcher until nothing is due; return rows delivered."""
        total = 0
        while sent := await self.dispatcher.run_once():
            total += sent
        return total

    async def command(self, user: SimulatedUser, text: str = "",
                      signing: Signing = Signing.VALID) -> BoltReply:
        reply = await self.slack.slash_command(user, "/delphi", text, signing=signing)
        await self.adapter.settle()
        return reply

    async def press(self, user: SimulatedUser, label: str,
                    message: FakeMessage | None = None) -> BoltReply:
        reply = await self.slack.press(user, find_button(user, label, message))
        await self.adapter.settle()
        return reply

    async def submit(self, user: SimulatedUser, values: dict[str, Any]) -> BoltReply:
        reply = await self.slack.submit_view(user, values)
        await self.adapter.settle()
        return reply

    async def open_home(self, user: SimulatedUser) -> BoltReply:
        reply = await self.slack.open_app_home(user)
        await self.adapter.settle()
        return reply

    async def enrol(self, count: int, names: list[str] | None = None) -> list[SimulatedUser]:
        """Invite ``count`` experts from the coordinator's DM; each joins and consents."""
        await self.command(self.coordinator, f"invite {count}")
        tokens = TOKENS.findall(last_text(self.coordinator))
        assert len(tokens) == count, last_text(self.coordinator)
        joined = []
        for index, token in enumerate(tokens):
            name = names[index] if names else f"expert{len(self.experts) + 1}"
            user = self.fake.create_user(name, real_name=f"Alice {name.title()}",
                                         display_name=f"ali-{name}")
            await self.command(user, f"join {token}")
            await self.press(user, "I agree to take part")
            joined.append(user)
        self.experts += joined
        return joined


@asynccontextmanager
async def running_study(fake: FakeSlackApi, store: Store, clock: ManualClock,
                        spec: StudyFile) -> AsyncIterator[SlackStudy]:
    coordinator = fake.create_user("carol", real_name="Carol Coordinator")
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators.of(slack=[coordinator.id]),
        invite_link=SlackAdapter.invite_form))
    adapter = SlackAdapter(conductor, slack_settings(fake), port=0)
    await adapter.start()
    try:
        assert adapter.url is not None
        async with SlackPlatformClient(fake, bolt_url=adapter.url,
                                       signing_secret=SIGNING_SECRET) as slack:
            yield SlackStudy(fake, store, clock, conductor, adapter, slack, coordinator,
                             Dispatcher(store, clock, {"slack": adapter}))
    finally:
        await adapter.stop()


def assert_no_tasks_left() -> None:
    """Clean shutdown: nothing the bot started may outlive it."""
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert left == [], f"tasks left running: {left}"


def matches(text: str | None, label: str) -> bool:
    return text is not None and (text == label or text.startswith(label + " "))


def find_button(user: SimulatedUser, label: str, message: FakeMessage | None = None) -> Control:
    """The newest button whose text is ``label`` or starts with ``label + ' '`` (the scale
    buttons read ``1 · Strongly disagree``)."""
    for control in user.controls():
        if message is not None and (control.message is None
                                    or control.message.ts != message.ts):
            continue
        if control.element.is_button and matches(control.element.text, label):
            return control
    raise LookupError(f"{user.id} sees no button {label!r}; last: {last_text(user)}")


def last_text(user: SimulatedUser) -> str:
    message = user.last_message
    return message.visible_text if message is not None else ""


def card_of(message: FakeMessage) -> tuple[int, int, int] | None:
    header = next((b for b in message.blocks if b.get("type") == "header"), None)
    match = CARD.match(str(header["text"]["text"])) if header else None
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def statement_cards(user: SimulatedUser) -> list[FakeMessage]:
    return [m for m in user.messages if card_of(m) is not None]


def bare_commands(user: SimulatedUser) -> list[str]:
    """Commands the bot showed ``user`` as ``/ballot`` instead of ``/delphi ballot``."""
    return [found.group(0) for text in everything_seen(user)
            for found in BARE_COMMAND.finditer(text)]


def everything_seen(user: SimulatedUser) -> Iterator[str]:
    """Every text the user can read from the bot: DM, ephemerals, modals, Home tab."""
    for message in user.messages:
        yield message.visible_text
    for message in user.ephemerals.values():
        yield message.visible_text
    for view in [*user.closed_modals, *([user.modal] if user.modal else [])]:
        yield view.visible_text
    if user.home is not None:
        yield user.home.visible_text


async def table_counts(store: Store) -> dict[str, int]:
    """Rows per table: a snapshot to prove that a refused request wrote nothing."""
    counts = {}
    async with store.transaction() as session:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = await session.scalar(
                select(func.count()).select_from(table)) or 0
    return counts


async def count(store: Store, model: type) -> int:
    async with store.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


def rating_card(user: SimulatedUser, round_number: int, position: int) -> FakeMessage:
    """The newest card for that statement that still has its rating buttons."""
    for message in reversed(statement_cards(user)):
        shown = card_of(message)
        if shown is not None and shown[:2] == (round_number, position) and any(
                b.text == "Unable to rate" for b in message.buttons):
            return message
    raise AssertionError(f"no round {round_number} card {position}: {last_text(user)}")


async def rate_round(study: SlackStudy, user: SimulatedUser, round_number: int,
                     value: Callable[[int], int | None],
                     comments: dict[int, str] | None = None) -> int:
    """Rate every statement of the round as a person would, then submit; return how many."""
    first = rating_card(user, round_number, 1)
    shown = card_of(first)
    assert shown is not None
    total = shown[2]
    for position in range(1, total + 1):
        card = rating_card(user, round_number, position)
        if comments and position in comments:
            before = len(user.messages)
            await study.press(user, "Comment", card)
            modal = user.modal
            assert modal is not None and modal.title_text.startswith("Comment on")
            assert len(user.messages) == before  # the modal replaces the "send it" card
            await study.submit(user, {"comment": comments[position]})
            assert user.modal is None
            assert f"Comment saved on statement {position}" in last_text(user)
        chosen = value(position)
        reply = await study.press(user, "Unable to rate" if chosen is None else str(chosen),
                                  card)
        assert reply.status == 200
        rated = user.message(card.ts)
        assert rated.edits >= 1 and "✓" in rated.visible_text
        assert [b.text for b in rated.buttons] == ["Change"]
    assert f"Round {round_number} · Review" in last_text(user)
    await study.press(user, "Submit my ballot")
    assert "ballot is submitted" in last_text(user)
    return total
