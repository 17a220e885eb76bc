"""Reasons for outlying ratings, confidence, feedback by group and anonymous replies,
through the conductor and the in-memory adapter, on every backend. The Telegram and
Slack stacks run the same study in tests/telegram and tests/slack."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select, update

from adapters.memory import MemoryChat, MemoryMessenger
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.models import Comment, Participant, Rating
from engine.studyfile import StudyFile, parse_study
from tests.bot.test_conductor import Statements
from tests.engine.helpers import EXAMPLES, loaded

PLATFORM = "memory"
SETTINGS = {
    "all": ('confidence = "per_statement"',
            '[feedback]\nask_reason = "outside_iqr"\nby_group = true\nreplies = true'),
    "domain": ('confidence = "per_domain"', ""),
    "changed": ("", '[feedback]\nask_reason = "changed"'),
    "off": ("", ""),
}
# Round 1 on S01 (no consensus, carried to round 2): IQR 3-3.5; the others all 5.
ROUND_ONE = [3, 3, 3, 3, 4, 5, 1]
GROUPS = ["Clinic", "Clinic", "Clinic", "Hospital", "Hospital", "Clinic", "Clinic"]


def study_text(scale: str, feedback: str) -> str:
    text = (EXAMPLES / "tiny.toml").read_text()
    text = text.replace('max_rounds = 2', 'max_rounds = 2\ngroups = ["Clinic", "Hospital"]')
    text = text.replace('[consensus]', f'{scale}\n\n[consensus]')
    return text.replace('[[statements]]', f'{feedback}\n\n[[statements]]', 1)


def spec_with(name: str) -> StudyFile:
    return parse_study(study_text(*SETTINGS[name]))


class Panel:
    def __init__(self, store: Store, clock: ManualClock, spec: StudyFile) -> None:
        self.store, self.clock, self.spec = store, clock, spec
        self.conductor = Conductor(StudyContext(
            store, clock, spec,
            Coordinators(frozenset({(PLATFORM, "coord")})),
            invite_link=lambda token: f"token:{token}"))
        self.messenger = MemoryMessenger()
        self.dispatcher = Dispatcher(store, clock, {PLATFORM: self.messenger})
        self.coordinator = self.messenger.chat(self.conductor, "coord", "Dr Coordinator")
        self.experts: list[MemoryChat] = []

    async def enrol(self, groups: list[str]) -> None:
        await self.coordinator.command("invite", str(len(groups)))
        tokens = re.findall(r"token:(\S+)", self.coordinator.last.plain_text())
        for index, token in enumerate(tokens):
            chat = self.messenger.chat(self.conductor, f"u{index}", f"Named Person{index}")
            await chat.command("start", token)
            await chat.press("I agree to take part")
            self.experts.append(chat)
        async with self.store.transaction() as session:
            ids = (await session.scalars(select(Participant.id).order_by(
                Participant.id))).all()
            for pid, group in zip(ids, groups, strict=True):
                await session.execute(update(Participant).where(Participant.id == pid)
                                      .values(stakeholder_group=group))

    async def round_one(self, comment_by: int = 1) -> None:
        await self.coordinator.command("openround", "7d")
        await self.dispatcher.run_once()
        for index, chat in enumerate(self.experts):
            for position in range(5):
                if index == comment_by and position == 0:
                    await chat.press("Comment")
                    await chat.say("Depends on skin type")
                await chat.press(str(ROUND_ONE[index] if position == 0 else 5))
                if self.spec.feedback.ask_reason != "off" and "Skip" in _labels(chat):
                    await chat.press("Skip")
            await chat.press("Submit my ballot")
        await self.coordinator.command("closeround")
        await self.coordinator.press("Close the round")
        await self.coordinator.command("openround", "7d")
        await self.dispatcher.run_once()


def _labels(chat: MemoryChat) -> list[str]:
    return [b.label for row in chat.last.buttons for b in row]


@pytest.fixture
async def panel(store: Store, clock: ManualClock, request: pytest.FixtureRequest) -> Panel:
    spec = spec_with(getattr(request, "param", "all"))
    await loaded(store, clock.now(), spec)
    built = Panel(store, clock, spec)
    await built.enrol(GROUPS)
    return built


async def test_round_two_asks_a_reason_only_outside_the_iqr(panel: Panel) -> None:
    await panel.round_one()
    inside, outside, skipper = panel.experts[0], panel.experts[2], panel.experts[6]
    card = inside.last.plain_text()
    assert inside.last.heading == "Round 2 · Statement 1 of 1 · Sun protection"
    assert "IQR 3-3.5" in card

    await inside.press("3")  # inside the IQR: straight on to the review
    assert inside.last.heading == "Round 2 · Review"
    assert "why" not in inside.transcript()

    await outside.press("5 · Strongly agree")  # outside: one short, skippable question
    prompt = outside.last.plain_text()
    assert "The panel mostly rated 3–3.5. In a line, why 5?" in prompt
    assert [b.label for row in outside.last.buttons for b in row] == ["Write a reason", "Skip"]
    await outside.say("Trials in fair skin show a clear benefit.")
    assert "Reason saved on statement 1 (S01)" in outside.transcript()
    assert outside.last.heading == "Round 2 · Review"

    await skipper.press("1 · Strongly disagree")
    assert "why 1?" in skipper.last.plain_text()
    reply = await skipper.press("Skip")  # one tap, and the ballot goes on
    assert reply.toast == "Skipped."
    assert skipper.last.heading == "Round 2 · Review"
    await skipper.say("a stray message")
    assert "Sent to the study coordinators" in skipper.last.plain_text()

    async with panel.store.transaction() as session:
        rows = (await session.execute(select(Comment.kind, Comment.text))).all()
    assert sorted(rows) == [("comment", "Depends on skin type"),
                            ("reason", "Trials in fair skin show a clear benefit.")]


async def test_a_changed_rating_back_inside_drops_its_reason(panel: Panel) -> None:
    await panel.round_one()
    expert = panel.experts[2]
    await expert.press("5 · Strongly agree")
    await expert.say("Because of the new trial.")
    await expert.press("1", None)  # the review's jump button back to statement 1
    await expert.press("3")
    async with panel.store.transaction() as session:
        kinds = (await session.scalars(select(Comment.kind))).all()
    assert sorted(kinds) == ["comment"]


async def test_confidence_is_one_optional_tap_stored_with_the_rating(panel: Panel) -> None:
    await panel.coordinator.command("openround", "7d")
    await panel.dispatcher.run_once()
    expert = panel.experts[0]
    await expert.press("4")
    rated = expert.messages[-2]
    assert [b.label for b in rated.card.buttons[0]] == ["Low", "Medium", "High"]
    assert expert.last.heading == "Round 1 · Statement 2 of 5 · Sun protection"
    reply = await expert.press("High", rated)
    assert reply.toast == "Noted: confidence high"
    assert "✓ 4 · Agree · confidence high" in rated.card.plain_text()
    await expert.press("2")  # not answering the question is fine
    async with panel.store.transaction() as session:
        stored = sorted((await session.execute(select(Rating.value, Rating.confidence))).all())
    assert stored == [(2, None), (4, 3)]


@pytest.mark.parametrize("panel", ["domain"], indirect=True)
async def test_confidence_per_domain_asks_once_the_domain_is_done(panel: Panel) -> None:
    await panel.coordinator.command("openround", "7d")
    await panel.dispatcher.run_once()
    expert = panel.experts[0]
    for _ in range(2):
        await expert.press("4")
        assert "How sure" not in expert.messages[-2].card.plain_text()
    await expert.press("5 · Strongly agree")
    rated = expert.messages[-2]
    assert "How sure are you of your ratings on Sun protection?" in rated.card.plain_text()
    await expert.press("Low", rated)
    async with panel.store.transaction() as session:
        stored = (await session.scalars(select(Rating.confidence))).all()
    assert stored == [1, 1, 1]


@pytest.mark.parametrize("panel", ["changed"], indirect=True)
async def test_changed_mode_asks_when_own_rating_moves_two_points(panel: Panel) -> None:
    await panel.round_one()
    moved, stayed = panel.experts[0], panel.experts[1]  # both rated 3 in round 1
    await stayed.press("4")
    assert stayed.last.heading == "Round 2 · Review"
    await moved.press("5 · Strongly agree")
    assert "Last round you rated 3; now 5. In a line, what changed your view?" in \
        moved.last.plain_text()


async def test_groups_small_ones_hidden_and_replies_come_back_as_threads(
        panel: Panel) -> None:
    await panel.round_one()
    expert = panel.experts[0]
    card = expert.last.plain_text()
    assert "By stakeholder group:" in card
    assert "Clinic (n = 5): median 3; ratings 1-5: 1·0·3·0·1" in card
    assert "Hospital: too few to show" in card
    assert "[1] Depends on skin type" in card
    await expert.press("Reply to [1]")
    assert "Send your reply to this comment" in expert.last.plain_text()
    await expert.say("Skin type matters less at these doses.")
    assert "Reply saved on statement 1 (S01)" in expert.transcript()
    again = await expert.press_data("1|a|2|1")
    assert again.alert and again.toast and "cannot reply" in str(again.toast)
    author = panel.experts[1]
    own = author.last.plain_text()
    assert "Depends on skin type" not in own  # no one sees their own comment, or a button
    assert "Reply to" not in " ".join(_labels(author))
    async with panel.store.transaction() as session:
        reply = (await session.execute(select(Comment).where(Comment.kind == "reply"))
                 ).scalar_one()
        parent = await session.get(Comment, reply.reply_to)
    assert parent is not None and parent.text == "Depends on skin type"
    for chat in panel.experts:
        for other in panel.experts:
            assert other.name not in chat.transcript()


async def test_a_plain_press_costs_no_more_with_every_setting_on(panel: Panel) -> None:
    """Round 1 asks no reason, so a press there costs what it costs without the settings."""
    await panel.coordinator.command("openround", "7d")
    await panel.dispatcher.run_once()
    expert = panel.experts[0]
    await expert.press("4")
    with Statements(panel.store) as seen:
        await expert.press("4")
    assert seen.count == (4 if panel.store.sqlite else 3)



async def test_exports_carry_kind_reply_to_and_confidence(panel: Panel) -> None:
    await panel.round_one()
    expert = panel.experts[0]
    await expert.press("Reply to [1]")
    await expert.say("Not at these doses.")
    await expert.press("5 · Strongly agree")
    await expert.press("High", expert.messages[-2])  # the rated card, above the question
    await expert.say("New trial data.")
    await panel.coordinator.command("export")
    files = {d.filename: d.content.decode() for d in panel.coordinator.documents
             if d.filename.endswith(".csv")}
    ratings = list(csv.DictReader(io.StringIO(files["ratings.csv"])))
    assert list(ratings[0]) == ["round", "statement", "participant", "rating", "group",
                                "confidence"]
    assert [r["confidence"] for r in ratings if r["round"] == "2"] == ["high"]
    comments = list(csv.DictReader(io.StringIO(files["comments.csv"])))
    assert list(comments[0]) == ["round", "statement", "version", "participant", "comment",
                                 "hidden", "id", "kind", "reply_to"]
    by_kind = {c["kind"]: c for c in comments}
    assert sorted(by_kind) == ["comment", "reason", "reply"]
    assert by_kind["reply"]["reply_to"] == by_kind["comment"]["id"]
    assert by_kind["comment"]["reply_to"] == by_kind["reason"]["reply_to"] == ""
    assert by_kind["reason"]["comment"] == "New trial data."


async def test_report_shows_reasons_threads_outlying_counts_and_the_settings(
        panel: Panel) -> None:
    await panel.round_one()
    first, second = panel.experts[0], panel.experts[2]
    await first.press("Reply to [1]")
    await first.say("Not at these doses.")
    await first.press("5 · Strongly agree")
    await first.say("New trial data.")
    await second.press("1 · Strongly disagree")
    await second.press("Skip")
    for chat in (first, second):
        await chat.press("Submit my ballot")
    await panel.coordinator.command("closeround")
    await panel.coordinator.press("Close the round")
    await panel.coordinator.command("report")
    files = {d.filename: d.content.decode() for d in panel.coordinator.documents
             if d.filename.endswith(".md")}
    report = next(iter(files.values()))
    assert "round 2: 2, 1 explained" in report
    assert "> New trial data." in report
    assert "> Round 1: Depends on skin type" in report
    assert "> ↳ reply: Not at these doses." in report
    assert "| Reason for an outlying rating | asked (skippable) from round 2" in report
    assert "| Feedback by stakeholder group | each group's distribution" in report
    for chat in panel.experts:
        assert chat.name not in report


async def test_report_sensitivity_table_has_the_confidence_rows(panel: Panel) -> None:
    await panel.coordinator.command("openround", "7d")
    await panel.dispatcher.run_once()
    for chat in panel.experts:
        for _ in range(5):
            await chat.press("4")
            await chat.press("Low", chat.messages[-2])
        await chat.press("Submit my ballot")
    await panel.coordinator.command("closeround")
    await panel.coordinator.press("Close the round")
    await panel.coordinator.command("report")
    report = next(d.content.decode() for d in panel.coordinator.documents
                  if d.filename.endswith(".md"))
    assert "| low-confidence ratings left out | the study's rule, ratings given with low " \
        in report
    # Every rating was low: without them nothing is left, and the verdict stays "in".
    assert "| 1 | S01 | in | in | in | in | in | in | in | none |" in report


async def round_two_press_cost(store: Store, clock: ManualClock, name: str) -> int:
    spec = spec_with(name)
    await loaded(store, clock.now(), spec)
    panel = Panel(store, clock, spec)
    await panel.enrol(GROUPS)
    await panel.round_one()
    expert = panel.experts[0]
    with Statements(store) as seen:
        await expert.press("3")  # inside the IQR: no question, straight to the review
    assert expert.last.heading == "Round 2 · Review"
    return seen.count


@pytest.mark.parametrize("name", ["off", "all"])
async def test_a_round_two_press_inside_the_iqr_costs_what_it_costs_without_settings(
        store: Store, clock: ManualClock, name: str) -> None:
    """Reasons, groups and replies read nothing more on a plain press: last round's
    result and each group's figures come from the memo. The press starts the round-2
    ballot, records the rating and reads the review's answers."""
    cost = await round_two_press_cost(store, clock, name)
    assert cost == (5 if store.sqlite else 4)  # no BEGIN on asyncpg


async def test_hide_applies_to_replies(panel: Panel) -> None:
    await panel.round_one()
    expert = panel.experts[0]
    await expert.press("Reply to [1]")
    await expert.say("A reply the coordinator hides")
    await panel.coordinator.command("comments", "2")
    listed = panel.coordinator.last.plain_text()
    found = re.search(r"#(\d+) S01 \[reply to #\d+\]: A reply the coordinator hides", listed)
    assert found, listed
    await panel.coordinator.command("hide", found.group(1))
    async with panel.store.transaction() as session:
        hidden = await session.scalar(select(Comment.hidden).where(Comment.kind == "reply"))
    assert hidden is True


async def test_table_2_gains_per_group_agreement(panel: Panel) -> None:
    await panel.round_one()
    await panel.coordinator.command("report")
    report = next(d.content.decode() for d in panel.coordinator.documents
                  if d.filename.endswith(".md"))
    assert "Last round % agree by group" in report
    # S01 in round 1: Clinic rated 3, 3, 3, 5, 1 (one of five agrees); Hospital has two.
    assert "Clinic: 20 % (n = 5); Hospital: too few" in report


async def test_a_reason_typed_after_the_rating_moved_back_inside_is_not_kept(
        panel: Panel) -> None:
    await panel.round_one()
    expert = panel.experts[2]
    await expert.press("5 · Strongly agree")
    assert "why 5?" in expert.last.plain_text()
    await expert.press("Change", expert.messages[-2])  # back to the statement
    await expert.press("3")
    await expert.say("Written for the old rating.")
    assert "no reason is needed; nothing was saved" in expert.transcript()
    async with panel.store.transaction() as session:
        kinds = (await session.scalars(select(Comment.kind))).all()
    assert sorted(kinds) == ["comment"]
