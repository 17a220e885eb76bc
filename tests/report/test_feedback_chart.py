"""The opt-in round image: `[feedback] chart = true` adds one picture per expert to the
round summary, drawn by the outbox dispatcher when it is sent (never inside the close's
write transaction) and sent as a photo (Telegram) or a file (Slack)."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select, update

from adapters.memory import MemoryMessenger
from adapters.slack.adapter import SlackAdapter
from adapters.telegram.adapter import TelegramAdapter
from bot.chat.cards import Card, Picture, Section
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.models import OutboxMessage, Participant, RoundResult
from engine.studyfile import StudyFileError, parse_study
from tests.engine.helpers import EXAMPLES, loaded
from tests.report.conftest import FinishedStudy

PNG = b"\x89PNG\r\n\x1a\n"
TINY = (EXAMPLES / "tiny.toml").read_text(encoding="utf-8")


def test_the_setting_is_optional_and_checked() -> None:
    default = parse_study(TINY)
    assert default.feedback.chart is False
    assert '"feedback":' not in default.canonical_json()  # old studies keep their hash
    charted = parse_study(TINY + "\n[feedback]\nchart = true\n")
    assert charted.feedback.chart is True
    assert charted.content_hash() != default.content_hash()
    with pytest.raises(StudyFileError, match=r"feedback\.chrt"):
        parse_study(TINY + "\n[feedback]\nchrt = true\n")


async def test_text_only_by_default(finished: FinishedStudy) -> None:
    for expert in finished.experts:
        assert all(m.card.image is None for m in expert.messages)
        assert any("Round 1 has closed" in m.card.plain_text() for m in expert.messages)


async def test_each_expert_gets_their_own_round_picture(store: Store,
                                                        clock: ManualClock) -> None:
    _, messenger, experts, coordinator = await _charted_study_joined(store, clock)
    dispatcher = Dispatcher(store, clock, {"memory": messenger})
    await coordinator.command("openround", "7d")
    await dispatcher.run_once()
    for value, chat in zip(("5", "2"), experts, strict=True):
        for _ in range(5):
            await chat.press(value)
        await chat.press("Submit my ballot")
    await coordinator.command("closeround")
    await coordinator.press("Close the round")
    await dispatcher.run_once()
    pictures = []
    for chat in experts:
        summary, picture = chat.messages[-2].card, chat.messages[-1].card
        assert summary.heading == "Round 1 summary" and summary.image is None
        assert picture.image is not None and picture.image.content.startswith(PNG)
        assert picture.image.filename == "round-1.png"
        assert "Your own rating is outlined" in picture.plain_text()
        pictures.append(picture.image.content)
    assert pictures[0] != pictures[1]  # each marks a different own rating
    async with store.transaction() as session:
        payloads = (await session.scalars(select(OutboxMessage.payload).where(
            OutboxMessage.kind == "round_summary"))).all()
    # The close queued a request for the picture, not the picture: no image bytes.
    assert all(p["cards"][1]["chart_round"] == 1 and "image" not in p["cards"][1]
               for p in payloads)
    restored = Card.from_json(payloads[0]["cards"][1])
    assert restored.chart_round == 1 and restored.image is None


async def _charted_study_joined(store: Store, clock: ManualClock
                                ) -> tuple[Conductor, MemoryMessenger, list[Any], Any]:
    """A charted tiny study whose two invited experts have consented, no round open yet:
    the start every picture test shares."""
    spec = await loaded(store, clock.now(), parse_study(TINY + "\n[feedback]\nchart = true\n"))
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators(frozenset({("memory", "c-1")})),
        invite_link=lambda token: f"token:{token}"))
    messenger = MemoryMessenger()
    coordinator = messenger.chat(conductor, "c-1")
    await coordinator.command("invite", "2")
    experts = []
    for index, token in enumerate(re.findall(r"token:(\S+)", coordinator.last.plain_text())):
        chat = messenger.chat(conductor, f"e-{index}")
        await chat.command("start", token)
        await chat.press("I agree to take part")
        experts.append(chat)
    return conductor, messenger, experts, coordinator


async def _charted_round_closed(store: Store, clock: ManualClock
                                ) -> tuple[Conductor, MemoryMessenger, list[Any], Any]:
    conductor, messenger, experts, coordinator = await _charted_study_joined(store, clock)
    await coordinator.command("openround", "7d")
    await Dispatcher(store, clock, {"memory": messenger}).run_once()  # the first cards
    for value, chat in zip(("5", "2"), experts, strict=True):
        for _ in range(5):
            await chat.press(value)
    await coordinator.command("closeround")
    await coordinator.press("Close the round")
    return conductor, messenger, experts, coordinator


async def test_the_picture_is_drawn_outside_every_write_transaction(
        store: Store, clock: ManualClock) -> None:
    """While the pictures are being drawn (held here on an event), the close is already
    committed and others write freely: a coordinator opens the next round, and the drawer
    itself can take a write transaction (on SQLite there is one writer at a time, so this
    would wait forever if the dispatcher drew inside one)."""
    _, messenger, experts, coordinator = await _charted_round_closed(store, clock)
    drawing, release = asyncio.Event(), asyncio.Event()
    asked: list[tuple[str, int, int]] = []

    async def slow_drawer(study_id: str, round_number: int, participant_id: int) -> bytes:
        asked.append((study_id, round_number, participant_id))
        async with asyncio.timeout(10), store.transaction() as session:
            await session.execute(update(Participant).where(
                Participant.id == participant_id).values(timezone="Europe/Paris"))
        drawing.set()
        await release.wait()
        return PNG + bytes([participant_id])

    dispatcher = Dispatcher(store, clock, {"memory": messenger}, charts=slow_drawer)
    sending = asyncio.create_task(dispatcher.run_once())
    async with asyncio.timeout(10):
        await drawing.wait()
    async with asyncio.timeout(10):
        await coordinator.command("openround", "7d")
    assert "Round 2 is open" in coordinator.last.plain_text()
    async with store.transaction() as session:
        stored = await session.scalar(select(func.count()).select_from(RoundResult))
    assert stored == 5  # the close's results were committed before any drawing
    release.set()
    async with asyncio.timeout(10):
        await sending
    assert {number for _, number, _ in asked} == {1} and len(asked) == 2
    for chat in experts:
        pictures = [m.card for m in chat.messages if m.card.image is not None]
        assert len(pictures) == 1 and pictures[0].image is not None
        assert pictures[0].image.content.startswith(PNG)
        assert "Your own rating is outlined" in pictures[0].plain_text()


async def test_no_picture_to_draw_leaves_the_card_out(store: Store, clock: ManualClock) -> None:
    """A drawer with nothing to show (None) sends the summary without the picture card."""
    _, messenger, experts, _ = await _charted_round_closed(store, clock)

    async def nothing(study_id: str, round_number: int, participant_id: int) -> None:
        return None

    await Dispatcher(store, clock, {"memory": messenger}, charts=nothing).run_once()
    for chat in experts:
        assert chat.messages[-1].card.heading == "Round 1 summary"
        assert all(m.card.image is None for m in chat.messages)


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any, **kwargs: Any) -> dict[str, Any]:
            self.calls.append((name, {"args": args, **kwargs}))
            return {"ok": True}
        return call


def _picture_card() -> Card:
    return Card(sections=(Section("Round 1 at a glance <b>"),),
                image=Picture("round-1.png", PNG + b"data"))


async def test_telegram_sends_a_photo_with_the_text_as_caption() -> None:
    bot = _Recorder()
    adapter: Any = SimpleNamespace(app=SimpleNamespace(bot=bot))
    await TelegramAdapter._send(adapter, 42, [_picture_card()])
    [(name, call)] = bot.calls
    assert name == "send_photo" and call["photo"] == PNG + b"data"
    assert call["filename"] == "round-1.png"
    assert call["caption"] == "Round 1 at a glance &lt;b&gt;"  # escaped, HTML mode


async def test_slack_uploads_the_picture_as_a_file() -> None:
    client: Any = _Recorder()
    await SlackAdapter._post(client, "D42", [_picture_card()])
    [(name, call)] = client.calls
    assert name == "files_upload_v2" and call["content"] == PNG + b"data"
    assert call["channel"] == "D42" and call["filename"] == "round-1.png"
    assert "Round 1 at a glance" in call["initial_comment"]
