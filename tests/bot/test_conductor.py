"""The whole dialogue through the conductor and the in-memory adapter, on every backend."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, func, select

from adapters.memory import MemoryChat, MemoryMessenger
from bot.chat.events import Command, Pressed
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.models import AuditEntry, Comment, Rating, RoundResult
from tests.engine.helpers import loaded

PLATFORM = "memory"


class Study:
    def __init__(self, store: Store, clock: ManualClock, conductor: Conductor) -> None:
        self.store, self.clock, self.conductor = store, clock, conductor
        self.messenger = MemoryMessenger()
        self.dispatcher = Dispatcher(store, clock, {PLATFORM: self.messenger})
        self.coordinator = self.messenger.chat(conductor, "coord", "Dr Coordinator")

    def chat(self, user_id: str, name: str) -> MemoryChat:
        return self.messenger.chat(self.conductor, user_id, name)

    async def deliver(self) -> int:
        return await self.dispatcher.run_once()

    async def enrol(self, count: int) -> list[MemoryChat]:
        await self.coordinator.command("invite", str(count))
        tokens = re.findall(r"token:(\S+)", self.coordinator.last.plain_text())
        assert len(tokens) == count
        experts = []
        for index, token in enumerate(tokens):
            chat = self.chat(f"u{index}", f"Alice Expert{index}")
            await chat.command("start", token)
            await chat.press("I agree to take part")
            experts.append(chat)
        return experts


@pytest.fixture
async def study(store: Store, clock: ManualClock) -> Study:
    spec = await loaded(store, clock.now())
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators(frozenset({(PLATFORM, "coord")})),
        invite_link=lambda token: f"token:{token}"))
    return Study(store, clock, conductor)


async def count(store: Store, model: type) -> int:
    async with store.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_two_rounds_with_feedback_and_no_names(study: Study) -> None:
    experts = await study.enrol(4)
    assert "no round is open" in experts[0].last.plain_text().lower() or \
        "when the first round opens" in experts[0].last.plain_text()
    await study.coordinator.command("openround", "7d")
    assert "Round 1 is open" in study.coordinator.last.plain_text()
    assert await study.deliver() == 4
    first = experts[0].last
    assert first.heading == "Round 1 · Statement 1 of 5 · Sun protection"
    labels = [b.label for row in first.buttons for b in row]
    assert labels[:5] == ["1 · Strongly disagree", "2", "3", "4", "5 · Strongly agree"]
    assert "Unable to rate" in labels and "Comment" in labels

    plan = {0: [5, 5, 4, 2, 5], 1: [4, 5, 4, 1, 5], 2: [5, 4, 1, 2, 4], 3: [4, 2, 2, None, 5]}
    for index, chat in enumerate(experts):
        for position, value in enumerate(plan[index]):
            if index == 1 and position == 2:
                await chat.press("Comment")
                await chat.say("Depends on <b>skin type</b> & @everyone")
            reply = await chat.press("Unable to rate" if value is None else str(value))
            assert reply.toast is not None and reply.toast.startswith("Recorded:")
        assert chat.last.heading == "Round 1 · Review"
        await chat.press("Submit my ballot")
    assert await count(study.store, Rating) == 20
    assert await count(study.store, Comment) == 1

    await study.coordinator.command("closeround")
    assert "4 of 4 experts have submitted" in study.coordinator.last.plain_text()
    await study.coordinator.press("Close the round")
    results = study.coordinator.last.plain_text()
    assert "Round 1 results" in results and "S01: consensus to endorse" in results
    assert await count(study.store, RoundResult) == 5
    assert await study.deliver() == 4
    summary = experts[0].last.plain_text()
    assert "Round 1 has closed" in summary and "4 of 4 experts submitted" in summary

    await study.coordinator.command("revise", "S03 Protective clothing is more reliable than "
                                              "sunscreen in strong sun.")
    await study.coordinator.command("openround", "7d")
    assert await study.deliver() == 4
    card = experts[0].last
    assert card.heading is not None and card.heading.startswith("Round 2 · Statement 1 of")
    text = experts[0].transcript()
    for chat in experts:
        others = [c for c in experts if c is not chat]
        for other in others:
            assert other.name not in chat.transcript()
            assert other.user_id not in re.findall(r"\bu\d\b", chat.transcript())
    # Revised S03: the old wording and the others' comment are shown, raw text intact.
    # Only S03 (no consensus) comes back; it was revised.
    assert card.heading == "Round 2 · Statement 1 of 1 · Sun protection"
    s03 = card.plain_text()
    assert "more reliable than sunscreen in strong sun" in s03
    assert "Revised since round 1" in s03 and "Depends on <b>skin type</b> & @everyone" in s03
    assert "Your rating: 4 · Agree" in s03
    assert "Alice" not in text


async def test_refusals_answer_clearly_and_write_nothing(study: Study) -> None:
    [expert] = await study.enrol(1)
    stranger = study.chat("x1", "Mallory")
    await stranger.command("closeround")
    assert "only for the study coordinators" in stranger.last.plain_text()
    async with study.store.transaction() as session:
        refused = (await session.scalars(select(AuditEntry).where(
            AuditEntry.allowed.is_(False)))).all()
    assert [(a.actor, a.action) for a in refused] == [("memory:x1", "closeround")]
    await stranger.command("ballot")
    assert "invite link" in stranger.last.plain_text()
    await stranger.command("start")
    assert "personal invite link" in stranger.last.plain_text()
    await stranger.command("start", "forged-token")
    assert "not valid" in stranger.last.plain_text()
    reply = await expert.press_data("1|r|1|S01|9")  # no round open; 9 outside the scale
    assert reply.alert and reply.toast
    reply = await expert.press_data("garbage")
    assert reply.alert and reply.toast and "not valid" in str(reply.toast)
    await study.coordinator.command("openround", "7d")
    await study.deliver()
    reply = await expert.press_data("1|r|1|S99|3")
    assert reply.alert and reply.toast and "S99 is not on the ballot" in str(reply.toast)
    reply = await expert.press_data("1|r|2|S01|3")
    assert reply.alert and reply.toast and "round 2 is not open" in str(reply.toast).lower()
    assert await count(study.store, Rating) == 0
    await expert.press("4")
    replayed = await study.conductor.handle(Pressed(expert.who, "same", "1|r|1|S02|1"))
    again = await study.conductor.handle(Pressed(expert.who, "same", "1|r|1|S02|5"))
    assert replayed.toast and replayed.toast.startswith("Recorded")
    assert again.toast == "Already recorded."
    async with study.store.transaction() as session:
        values = sorted((await session.scalars(select(Rating.value))).all())
    assert values == [1, 4]


async def test_withdraw_needs_confirmation(study: Study) -> None:
    [expert] = await study.enrol(1)
    await expert.command("withdraw")
    await expert.press("No, stay")
    await expert.command("withdraw")
    await expert.press("Yes, withdraw")
    await study.coordinator.command("openround", "7d")
    assert await study.deliver() == 0
    await expert.command("ballot")
    assert "withdrawn" in expert.last.plain_text()


class Statements:
    """Counts the SQL statements the store runs (BEGIN included), while it is open:
    through SQLAlchemy, and straight on the driver (engine.trips)."""

    def __init__(self, store: Store) -> None:
        self.store, self.engine, self.count = store, store.engine.sync_engine, 0

    def _seen(self, *_args: object) -> None:
        self.count += 1

    def _sent(self, _sql: str) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        self.store.trace_driver_trips(self._sent)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)
        self.store.trace_driver_trips(None)


async def test_a_rating_press_costs_four_statements_and_a_begin(study: Study) -> None:
    """The press path reads the expert, the open round and the answers in one statement:
    BEGIN, the replay check, that read and the rating itself (each press is the bot's
    hottest path; a fifth statement here is a measurable slowdown, see make bench)."""
    [expert] = await study.enrol(1)
    await study.coordinator.command("openround", "7d")
    await study.deliver()
    await expert.press("4")  # the first press also starts the ballot
    async with study.store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Rating)) == 1
    with Statements(study.store) as seen:
        reply = await expert.press("4")
    assert reply.toast is not None and reply.toast.startswith("Recorded")
    assert seen.count == 4 if study.store.sqlite else seen.count == 3  # no BEGIN on asyncpg
    assert await count(study.store, Rating) == 2
    assert expert.last.heading is not None
    assert expert.last.heading.startswith("Round 1 · Statement 3 of 5")


async def test_ballot_command_drops_a_waiting_comment_prompt(study: Study) -> None:
    """After Comment, the next text is the comment; /ballot cancels that (and costs no
    write when nothing is waiting)."""
    [expert] = await study.enrol(1)
    await study.coordinator.command("openround", "7d")
    await study.deliver()
    await expert.press("Comment")
    await expert.command("ballot")
    await expert.say("Just a note to the bot")
    assert "Sent to the study coordinators" in expert.last.plain_text()
    assert await count(study.store, Comment) == 0
    with Statements(study.store) as seen:
        await expert.command("ballot")
    assert expert.last.heading is not None and "Statement 1 of 5" in expert.last.heading
    assert seen.count <= 3  # BEGIN, the replay check, the expert's standing


async def test_a_replayed_ballot_command_is_answered_once(study: Study) -> None:
    """/ballot in round 1 is answered in one trip (engine.quick); its update is recorded
    there too, so a replay shows nothing again and writes nothing."""
    [expert] = await study.enrol(1)
    await study.coordinator.command("openround", "7d")
    await study.deliver()
    await expert.press("4")
    first = await study.conductor.handle(Command(expert.who, "ballot-1", "ballot", ""))
    assert [c.heading for c in first.send] == ["Round 1 · Statement 2 of 5 · Sun protection"]
    with Statements(study.store) as seen:
        again = await study.conductor.handle(Command(expert.who, "ballot-1", "ballot", ""))
    assert again.toast == "Already recorded." and not again.send
    assert seen.count <= 3  # BEGIN, the standing, the update key: nothing else
    assert await count(study.store, Rating) == 1


async def test_a_comment_hidden_during_round_two_leaves_the_next_card(study: Study) -> None:
    """The closed round's statistics are read once per database (they never change); the
    comments are read for every card, so /hide takes effect at once, mid-round."""
    experts = await study.enrol(3)
    await study.coordinator.command("openround", "7d")
    await study.deliver()
    plan = {0: [1, 5, 5, 5, 5], 1: [5, 5, 5, 5, 5], 2: [3, 5, 5, 5, 5]}  # S01 splits
    for index, chat in enumerate(experts):
        for position, value in enumerate(plan[index]):
            if index == 2 and position == 0:
                await chat.press("Comment")
                await chat.say("Only for photo-aged skin")
            await chat.press(str(value))
        await chat.press("Submit my ballot")
    await study.coordinator.command("closeround")
    await study.coordinator.press("Close the round")
    await study.coordinator.command("openround", "7d")
    await study.deliver()
    expert = experts[0]
    card = expert.last.plain_text()
    assert expert.last.heading == "Round 2 · Statement 1 of 1 · Sun protection"
    assert "Only for photo-aged skin" in card and "Your rating: 1 · Strongly disagree" in card

    await study.coordinator.command("comments", "1")
    found = re.search(r"#(\d+) ", study.coordinator.last.plain_text())
    assert found, study.coordinator.last.plain_text()
    await study.coordinator.command("hide", found.group(1))
    await expert.command("ballot")
    again = expert.last.plain_text()
    assert expert.last.heading == "Round 2 · Statement 1 of 1 · Sun protection"
    assert "Only for photo-aged skin" not in again and "Your rating: 1" in again
    assert "Round 1 results (n = 3)" in again
