"""A coordinator's first hour and an expert's questions, through the conductor and the
in-memory messenger, on every backend: finding one's id, a round opened for nobody, the
panel before round 1, previewing, adding, relaying questions and answers, screening."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from adapters.memory import MemoryChat
from bot.app.logs import guard_logging
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from bot.tools.demo import example_study
from engine.clock import ManualClock
from engine.db import Store
from engine.models import Round, Statement
from tests.bot.test_conductor import PLATFORM, Study
from tests.engine.helpers import loaded


def conductor_for(store: Store, clock: ManualClock, spec: object) -> Conductor:
    return Conductor(StudyContext(  # type: ignore[arg-type]
        store, clock, spec,
        Coordinators(frozenset({(PLATFORM, "coord")})),
        invite_link=lambda token: f"token:{token}"))


@pytest.fixture
async def tiny(store: Store, clock: ManualClock) -> Study:
    spec = await loaded(store, clock.now())
    return Study(store, clock, conductor_for(store, clock, spec))


@pytest.fixture
async def example(store: Store, clock: ManualClock) -> Study:
    """The bundled study: a 9-point scale, seven screening questions, 30 statements."""
    spec = await loaded(store, clock.now(), example_study())
    return Study(store, clock, conductor_for(store, clock, spec))


async def tokens(study: Study, count: int) -> list[str]:
    await study.coordinator.command("invite", str(count))
    return re.findall(r"token:(\S+)", study.coordinator.last.plain_text())


async def screen_in(chat: MemoryChat) -> None:
    """Answer every declaration so that the expert is eligible."""
    questions = {q.question: q for q in example_study().screening}
    while (chat.last.heading or "").startswith("Your declarations"):
        question = questions[chat.last.sections[0].text]
        await chat.press((question.eligible or question.options)[0])


async def open_rounds(study: Study) -> int:
    async with study.store.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Round).where(
            Round.status == "open")) or 0


# --- who am I, who may coordinate ---------------------------------------------------------

async def test_whoami_for_anyone_and_a_refusal_that_says_how_to_become_coordinator(
        tiny: Study) -> None:
    stranger = tiny.chat("u-stranger", "Sam Stranger")
    await stranger.command("whoami")
    text = stranger.last.plain_text()
    assert "Platform: memory. Your user id: u-stranger." in text
    assert '[coordinators] memory = ["u-stranger"]' in text
    await stranger.command("openround", "7d")
    refusal = stranger.last.plain_text()
    assert "only for the study coordinators" in refusal and "/whoami" in refusal
    assert await open_rounds(tiny) == 0
    await tiny.coordinator.command("whoami")
    assert "You are a coordinator of this study." in tiny.coordinator.last.plain_text()


# --- opening a round for nobody --------------------------------------------------------

async def test_openround_with_no_expert_asks_first_and_the_button_opens_what_was_asked(
        tiny: Study) -> None:
    await tiny.coordinator.command("openround", "10d")
    ask = tiny.coordinator.last
    assert "No expert is on the panel yet (0 invited, 0 joined" in ask.plain_text()
    assert [b.label for row in ask.buttons for b in row] == ["Open round 1 anyway"]
    assert await open_rounds(tiny) == 0
    stranger = tiny.chat("u-stranger", "Sam Stranger")
    refused = await stranger.press("Open round 1 anyway", tiny.coordinator.messages[-1])
    assert refused.alert and "only for the study coordinators" in str(refused.toast)
    assert await open_rounds(tiny) == 0
    reply = await tiny.coordinator.press("Open round 1 anyway")
    assert reply.toast == "Round 1 is open."
    assert await open_rounds(tiny) == 1
    async with tiny.store.transaction() as session:
        opened = await session.scalar(select(Round).where(Round.status == "open"))
        assert opened is not None and opened.deadline is not None
        wanted = tiny.clock.now() + timedelta(days=10)
        assert abs((opened.deadline.replace(tzinfo=wanted.tzinfo) - wanted).total_seconds()
                   ) < 60
    again = await tiny.coordinator.press_data(ask.buttons[0][0].data)
    assert again.alert and await open_rounds(tiny) == 1  # the second press changes nothing


async def test_openround_with_experts_opens_at_once(tiny: Study) -> None:
    await tiny.enrol(2)
    await tiny.coordinator.command("openround", "7d")
    assert "Round 1 is open" in tiny.coordinator.last.plain_text()
    assert "2 experts" in tiny.coordinator.last.plain_text()


# --- the panel before round 1, screening, stale buttons -----------------------------------

async def test_status_before_round_one_and_screening_by_text_and_stale_buttons(
        example: Study) -> None:
    joined = await tokens(example, 5)
    eligible, screened_out, waiting, declining = (example.chat(f"e{i}", f"Eve Expert{i}")
                                                  for i in range(4))
    for chat, token in zip((eligible, screened_out, waiting, declining), joined, strict=False):
        await chat.command("start", token)
    await declining.press("I do not agree")
    await screened_out.press("I agree to take part")
    assert screened_out.last.heading == "Your declarations · 1 of 7"
    await screened_out.press("No")
    await eligible.press("I agree to take part")
    first_question = eligible.messages[-1]

    # Free text during screening gets the screening question again, and goes nowhere else.
    await eligible.say("Is this study funded by a company?")
    assert eligible.last.heading == "Your declarations · 1 of 7"
    assert await example.deliver() == 0
    await screen_in(eligible)
    assert "you are on the panel" in eligible.last.plain_text()

    # The old screening button: a quiet toast, nothing re-sent, nothing changed.
    seen = len(eligible.messages)
    stale = await eligible.press("No", first_question)
    assert stale.toast == "This question is already answered." and not stale.send
    assert len(eligible.messages) == seen
    await example.coordinator.command("status")
    status = example.coordinator.last.plain_text()
    assert ("5 invited, 4 joined, 2 consented, 1 screened out, 1 on the panel, "
            "1 declined") in status
    assert "/preview" in status and "Eve" not in status


# --- preview and add ----------------------------------------------------------------------

async def test_preview_shows_the_draft_as_experts_will_and_add_asks_before_a_new_domain(
        tiny: Study) -> None:
    experts = await tiny.enrol(1)
    before = len(experts[0].messages)
    reply = await tiny.coordinator.command("preview")
    listing, intro, sample, note = reply.send
    assert listing.heading == "Round 1 draft: 5 statements"
    assert "1. S01 (Sun protection)" in listing.plain_text()
    assert intro.plain_text().startswith("Round 1 is open: 5 statements")
    assert sample.heading == "Round 1 · Statement 1 of 5 · Sun protection"
    assert sample.buttons[0][0].label == "1 · Strongly disagree"
    assert "Nothing was sent" in note.plain_text()
    assert len(experts[0].messages) == before and await tiny.deliver() == 0

    await tiny.coordinator.command("add", "Sun protecton | Hats are part of sun protection.")
    typo = tiny.coordinator.last.plain_text()
    assert "There is no domain 'Sun protecton' yet" in typo and "/add +Sun protecton" in typo
    async with tiny.store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Statement)) == 5
    await tiny.coordinator.command("add", "sun protection | Hats are part of sun protection.")
    assert tiny.coordinator.last.plain_text().startswith("Added S06 (Sun protection) for round 1")
    await tiny.coordinator.command("add", "+Behaviour | Shade is sought at midday.")
    assert tiny.coordinator.last.plain_text().startswith("Added S07 (Behaviour) for round 1")
    reply = await tiny.coordinator.command("preview", "7")
    assert reply.send[2].heading == "Round 1 · Statement 7 of 7 · Behaviour"


# --- an expert's question and the coordinator's answer ---------------------------------------

async def test_free_text_and_ask_reach_the_coordinators_under_the_pseudonym(
        tiny: Study) -> None:
    alice, bob = await tiny.enrol(2)
    await tiny.coordinator.command("openround", "7d")
    await tiny.deliver()
    await alice.say("Should I rate S02 for adults only?")
    sent = alice.last.plain_text()
    assert "Sent to the study coordinators under your code name P01" in sent
    assert "use the buttons" not in sent
    await bob.command("ask", "Is there a deadline extension?")
    await bob.command("ask", "")
    assert "Write your question after /ask" in bob.last.plain_text()
    assert await tiny.deliver() == 2
    questions = [m.first.plain_text() for m in tiny.coordinator.messages
                 if (m.first.heading or "").startswith("Message from expert")]
    assert len(questions) == 2
    assert "Message from expert P01" in questions[0] and "adults only" in questions[0]
    assert "/reply P01" in questions[0]
    for text in questions:
        assert "Alice" not in text and "u0" not in text and "u1" not in text

    await tiny.coordinator.command("reply", "P01 Yes, rate it for adults.")
    assert tiny.coordinator.last.plain_text() == "Sent to P01."
    await tiny.coordinator.command("reply", "P99 Hello")
    assert "There is no expert 'P99'" in tiny.coordinator.last.plain_text()
    assert await tiny.deliver() == 1
    answer = alice.last.plain_text()
    assert answer.startswith("From the study coordinators") and "rate it for adults" in answer
    assert "Coordinator" not in answer and "coord" not in answer.replace("coordinators", "")
    assert "rate it for adults" not in bob.transcript()


# --- comments, time zones, the report ------------------------------------------------------

async def test_comments_default_to_the_last_closed_round(tiny: Study) -> None:
    experts = await tiny.enrol(2)
    await tiny.coordinator.command("openround", "7d")
    await tiny.deliver()
    for index, chat in enumerate(experts):
        if index == 0:
            await chat.press("Comment")
            await chat.say("Round one thought.")
        for _ in range(5):  # one agrees, one disagrees: no consensus, round 2 follows
            await chat.press("1 · Strongly disagree" if index == 0 else "5 · Strongly agree")
        await chat.press("Submit my ballot")
    await tiny.coordinator.command("closeround")
    await tiny.coordinator.press("Close the round")
    await tiny.deliver()
    await tiny.coordinator.command("openround", "7d")
    await tiny.deliver()
    await experts[1].press("Comment")
    await experts[1].say("Round two thought.")
    await tiny.coordinator.command("comments")
    listed = tiny.coordinator.last
    assert listed.heading == "Round 1 comments (1)" and "Round one thought." in listed.plain_text()
    await tiny.coordinator.command("comments", "2")
    assert "Round two thought." in tiny.coordinator.last.plain_text()


async def test_timezone_names_an_unknown_zone(tiny: Study) -> None:
    (alice,) = await tiny.enrol(1)
    await alice.command("timezone", "Europe/Berlinn")
    text = alice.last.plain_text()
    assert "'Europe/Berlinn' is not a time zone name I know" in text
    assert text.startswith("Your time zone is UTC.")
    await alice.command("timezone", "Europe/Berlin")
    assert alice.last.plain_text() == "Times are now shown in Europe/Berlin."


async def test_report_logs_no_chart_library_chatter(tiny: Study,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    experts = await tiny.enrol(2)
    await tiny.coordinator.command("openround", "7d")
    await tiny.deliver()
    for chat in experts:
        for value in ("4", "5", "4", "2", "5"):
            await chat.press(value)
        await chat.press("Submit my ballot")
    await tiny.coordinator.command("closeround")
    await tiny.coordinator.press("Close the round")
    guard_logging()  # what every delphi command starts with
    with caplog.at_level(logging.DEBUG):
        reply = await tiny.coordinator.command("report")
    assert "report.html" in [d.filename for d in reply.documents]
    chatter = [r for r in caplog.records if r.name.split(".")[0] in ("matplotlib", "PIL")]
    assert chatter == []


# --- reminders that tell the truth ---------------------------------------------------------

async def test_a_reminder_estimates_the_time_left_from_the_experts_own_pace(
        example: Study) -> None:
    joined = await tokens(example, 2)
    quick, fresh = example.chat("q", "Quinn Quick"), example.chat("f", "Fay Fresh")
    for chat, token in ((quick, joined[0]), (fresh, joined[1])):
        await chat.command("start", token)
        await chat.press("I agree to take part")
        await screen_in(chat)
    await example.coordinator.command("openround", "14d")
    await example.deliver()
    for _ in range(8):
        await quick.press("8")
        example.clock.advance(timedelta(seconds=40))
    await example.coordinator.command("nudge")
    await example.deliver()
    assert "22 of 30 statements left to rate: about 15 minutes at your pace so far" in \
        quick.last.plain_text()
    assert ("30 of 30 statements left to rate: about 15 minutes at about half a minute a "
            "statement") in fresh.last.plain_text()
