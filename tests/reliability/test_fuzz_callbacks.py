"""Button data fuzzed with hypothesis, through the whole conductor (and, for a sample,
the real python-telegram-bot stack against the Telegram fake).

The study has history: round 1 closed, S02 dropped and S03 revised, round 2 open; one
expert halfway through round 2, one submitted, one not started, one withdrawn; plus a
stranger and the coordinator. Each example presses one piece of data as one of them:
arbitrary text (control characters, lone surrogates), bytes read as text, data far past
Telegram's 64 bytes, hand-built encodings with wrong versions, verbs, field counts,
separators and numbers, real actions with plausible and implausible fields, and
mutations of those.

What must hold for every press: no exception escapes; a refusal is an alert with one
clear sentence and changes nothing in the database but the processed-update row (and,
for a coordinator button pressed by someone else, the audit row of the refused attempt);
data that decodes is canonical (``encode(decode(data)) == data``); and when it decodes to
an action that is valid for that person now, its effect is exactly the legitimate one.
The model of "valid now" is written from the rules (which round is open, what is on its
ballot, the scale, who may do what) and read afresh from the database before each press,
so the study may change under the fuzzing (an expert withdraws, the round closes) and
the oracle follows.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adapters.memory import MemoryChat, MemoryMessenger
from bot.chat import actions
from bot.chat.cards import Reply
from bot.chat.events import Pressed
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.enrolment import PlatformUser
from engine.models import (
    Ballot,
    Base,
    Identity,
    OutboxMessage,
    Participant,
    Rating,
    Round,
    RoundItem,
    Statement,
    StatementVersion,
)
from engine.studyfile import StudyFile
from tests.engine.helpers import loaded
from tests.fakes.telegram_api import FakeTelegram, running_telegram_fake
from tests.fakes.telegram_model import ChatMessage, SimulatedUser
from tests.reliability.workers import until
from tests.telegram.harness import one_expert_in_round_one, running_bot

PLATFORM = "memory"
COORDINATOR = "coord"
PRESSERS = ("halfway", "submitted", "idle", "withdrawn", "stranger", COORDINATOR)
CODES = ("S01", "S02", "S03", "S04", "S05")
_keys = itertools.count(1)


# --- the study -----------------------------------------------------------------------------

class Study:
    def __init__(self, store: Store, clock: ManualClock, conductor: Conductor) -> None:
        self.store, self.clock, self.conductor = store, clock, conductor

    def who(self, name: str) -> PlatformUser:
        return PlatformUser(PLATFORM, name, name, None, None)

    def __repr__(self) -> str:  # hypothesis prints the fixture with a failing example
        return "Study(round 1 closed, S02 dropped, S03 revised, round 2 open)"


async def build_study(store: Store, clock: ManualClock) -> Study:
    """Round 1 closed, S02 dropped, S03 revised, round 2 open with experts in every state,
    all through the conductor, as coordinator and experts would do it."""
    spec = await loaded(store, clock.now())
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators(frozenset({(PLATFORM, COORDINATOR)})),
        invite_link=lambda token: f"token:{token}"))
    messenger = MemoryMessenger()
    dispatcher = Dispatcher(store, clock, {PLATFORM: messenger})
    coordinator = messenger.chat(conductor, COORDINATOR, "Dr Coordinator")
    await coordinator.command("invite", "4")
    tokens = re.findall(r"token:(\S+)", coordinator.last.plain_text())
    chats = {}
    for name, token in zip(("halfway", "submitted", "idle", "withdrawn"), tokens, strict=True):
        chat = messenger.chat(conductor, name, name)
        await chat.command("start", token)
        await chat.press("I agree to take part")
        chats[name] = chat

    async def rate(chat: MemoryChat, count: int, submit: bool, value: str = "4") -> None:
        await chat.command("ballot")
        for _ in range(count):
            await chat.press(value, chat.messages[-1])
        if submit:
            await chat.press("Submit my ballot")

    await coordinator.command("openround", "7d")
    await dispatcher.run_once()
    for index, chat in enumerate(chats.values()):  # split 2 : 2, so nothing is settled
        await rate(chat, 5, True, "4" if index % 2 else "2")
    await coordinator.command("closeround")
    await coordinator.press("Close the round")
    await coordinator.command("drop", "S02 merged into S01")
    await coordinator.command("revise", "S03 Protective clothing prevents sunburn better "
                                        "than sunscreen alone.")
    clock.advance(timedelta(hours=1))
    await coordinator.command("openround", "7d")
    assert "Round 2 is open until" in coordinator.last.plain_text()
    assert "with 4 statements" in coordinator.last.plain_text()  # S02 dropped
    await dispatcher.run_once()
    await rate(chats["halfway"], 2, False)
    await rate(chats["submitted"], 4, True)
    await chats["withdrawn"].command("withdraw")
    await chats["withdrawn"].press("Yes, withdraw")
    return Study(store, clock, conductor)


@pytest.fixture
async def study(store: Store, clock: ManualClock) -> Study:
    return await build_study(store, clock)


# --- what the database holds ---------------------------------------------------------------

Snapshot = dict[str, tuple[tuple[str, ...], frozenset[tuple[Any, ...]]]]


def _cell(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict | list) \
        else value


async def snapshot(store: Store) -> Snapshot:
    """Every row of every table. (Read in ``run_sync``: the in-loop SQLite driver cannot
    return a Core result through AsyncSession.execute.)"""

    def read(session: Session) -> Snapshot:
        found: Snapshot = {}
        for table in Base.metadata.sorted_tables:
            columns = tuple(c.name for c in table.columns)
            found[table.name] = (columns, frozenset(
                tuple(_cell(v) for v in row) for row in session.execute(select(table))))
        return found

    async with store.transaction() as session:
        return await session.run_sync(read)


def rows(shot: Snapshot, table: str) -> list[dict[str, Any]]:
    columns, values = shot[table]
    return [dict(zip(columns, row, strict=True)) for row in values]


def changes(before: Snapshot, after: Snapshot) -> dict[str, tuple[set[Any], set[Any]]]:
    """Per changed table: (rows added, rows removed); an update is one of each."""
    return {name: (set(after[name][1] - rows_), set(rows_ - after[name][1]))
            for name, (_, rows_) in before.items() if rows_ != after[name][1]}


@dataclass(frozen=True)
class World:
    """What the rules need to know to say whether an action is valid for a person now."""

    open_round: int | None
    open_round_id: int | None
    ballot: dict[str, int]  # code -> statement version id on the open round's ballot
    points: int
    participant_id: int | None
    status: str | None
    ballot_id: int | None
    submitted: bool
    answered: int


async def world(store: Store, points: int, platform: str, user_id: str) -> World:
    async with store.transaction() as session:
        current = await session.scalar(select(Round).where(Round.status == "open"))
        ballot: dict[str, int] = {}
        if current is not None:
            ballot = {code: version for code, version in (await session.execute(
                select(Statement.code, StatementVersion.id)
                .join(StatementVersion, StatementVersion.statement_id == Statement.id)
                .join(RoundItem, RoundItem.statement_version_id == StatementVersion.id)
                .where(RoundItem.round_id == current.id)))}
        participant = await session.scalar(select(Participant).join(
            Identity, Identity.participant_id == Participant.id).where(
            Identity.platform == platform, Identity.user_id == user_id))
        own, answered = None, 0
        if participant is not None and current is not None:
            own = await session.scalar(select(Ballot).where(
                Ballot.round_id == current.id, Ballot.participant_id == participant.id))
            if own is not None:
                answered = await session.scalar(select(func.count()).select_from(Rating)
                                                .where(Rating.ballot_id == own.id)) or 0
    return World(current.number if current else None, current.id if current else None,
                 ballot, points, participant.id if participant else None,
                 participant.status if participant else None,
                 own.id if own else None, bool(own and own.submitted_at), answered)


# --- the rules: what a press must do -----------------------------------------------------

@dataclass(frozen=True)
class Expected:
    """Refused (an alert; nothing written but the update key, and for a coordinator button
    pressed by someone else the audit row of the attempt), or accepted with ``effect``."""

    refused: bool
    effect: str = "none"  # none | rate | comment | submit | reopen | withdraw | close
    action: actions.Action | None = None
    audited: bool = False


def expect(presser: str, data: str, now: World, unable: bool = True) -> Expected:
    try:
        action = actions.decode(data)
    except actions.BadAction:
        return Expected(refused=True)
    assert actions.encode(action) == data, f"non-canonical data accepted: {data!r}"
    if isinstance(action, actions.CloseRound):
        if presser != COORDINATOR:
            return Expected(refused=True, audited=True)
        if not action.confirmed:
            return Expected(refused=False)
        if action.round != now.open_round:
            return Expected(refused=True)
        return Expected(refused=False, effect="close", action=action)
    if now.participant_id is None:
        return Expected(refused=True)  # not on the panel (a stranger, the coordinator)
    match action:
        case actions.Consent():
            return Expected(refused=False)  # consent was given long ago: "Already answered."
        case actions.Screen():
            return Expected(refused=True)  # this study screens no one
        case actions.Withdraw(confirmed):
            leaving = confirmed and now.status == "active"
            return Expected(refused=False, effect="withdraw" if leaving else "none")
    if now.status != "active":
        return Expected(refused=True)
    current, items = now.open_round, len(now.ballot)
    match action:
        case actions.Resume():
            return Expected(refused=False)
        case actions.Rate(number, code, value):
            valid = (number == current and code in now.ballot and not now.submitted
                     and (1 <= value <= now.points if value is not None else unable))
            return Expected(refused=not valid, effect="rate" if valid else "none",
                            action=action)
        case actions.AskComment(number, code):
            valid = number == current and code in now.ballot
            return Expected(refused=not valid, effect="comment" if valid else "none",
                            action=action)
        case actions.Goto(number, position):
            return Expected(refused=not (number == current and 1 <= position <= items))
        case actions.Review(number):
            return Expected(refused=number != current)
        case actions.Submit(number):
            if number != current:
                return Expected(refused=True)
            if now.submitted:
                return Expected(refused=False)  # submitting again changes nothing
            complete = now.answered == items
            return Expected(refused=not complete, effect="submit" if complete else "none")
        case actions.Reopen(number):
            return Expected(refused=number != current,
                            effect="reopen" if number == current else "none")
    raise AssertionError(f"unmodelled action {action!r}")


SENTENCE = re.compile(r"[A-Z0-9][^\x00-\x1f]{8,198}[.!?]")


def clear_sentence(text: str | None) -> bool:
    return bool(text) and bool(SENTENCE.fullmatch(text or "")) and not any(
        word in (text or "") for word in ("Traceback", "Error", "Exception", "None"))


def check(expected: Expected, presser: str, now: World, toast: str | None, alert: bool,
          before: Snapshot, after: Snapshot, reply: Reply | None = None) -> None:
    changed = changes(before, after)
    updates_added, updates_removed = changed.pop("processed_updates", (set(), set()))
    assert len(updates_added) == 1 and not updates_removed  # the update key, once
    if expected.refused:
        assert alert and clear_sentence(toast), (toast, alert)
        if reply is not None:
            assert not reply.send and reply.edit is None and not reply.documents
        if expected.audited:
            audit_added, audit_removed = changed.pop("audit_log", (set(), set()))
            assert len(audit_added) == 1 and not audit_removed
            [entry] = [r for r in rows(after, "audit_log") if r not in rows(before, "audit_log")]
            assert entry["allowed"] is False or entry["allowed"] == 0
            assert entry["actor"].endswith(f":{presser}")
        assert changed == {}, changed
        return
    assert not alert, toast
    EFFECTS[expected.effect](expected, now, before, after, changed)


def _none(expected: Expected, now: World, before: Snapshot, after: Snapshot,
          changed: dict[str, Any]) -> None:
    assert changed == {}, changed


def _rate(expected: Expected, now: World, before: Snapshot, after: Snapshot,
          changed: dict[str, Any]) -> None:
    assert isinstance(expected.action, actions.Rate)
    assert set(changed) <= {"ratings", "ballots"}, {
        name: added for name, (added, _) in changed.items() if name not in ("ratings", "ballots")}
    [ballot] = [b for b in rows(after, "ballots") if b["round_id"] == now.open_round_id
                and b["participant_id"] == now.participant_id]
    if now.ballot_id is None:
        added, removed = changed["ballots"]
        assert len(added) == 1 and not removed  # the ballot, started by this first rating
        assert ballot["revision"] == 1
    else:  # the ballot counts one more revision, nothing else of it changes
        assert ballot["id"] == now.ballot_id
        [earlier] = [b for b in rows(before, "ballots") if b["id"] == now.ballot_id]
        assert ballot == {**earlier, "revision": earlier["revision"] + 1}
    version = now.ballot[expected.action.code]

    def others(shot: Snapshot) -> list[dict[str, Any]]:
        return sorted((r for r in rows(shot, "ratings") if (r["ballot_id"], r[
            "statement_version_id"]) != (ballot["id"], version)), key=lambda r: r["id"])

    [rating] = [r for r in rows(after, "ratings") if r["ballot_id"] == ballot["id"]
                and r["statement_version_id"] == version]
    assert rating["value"] == expected.action.value
    assert others(before) == others(after)


def _comment(expected: Expected, now: World, before: Snapshot, after: Snapshot,
             changed: dict[str, Any]) -> None:
    assert isinstance(expected.action, actions.AskComment)
    assert set(changed) <= {"pending_inputs"}, changed
    mine = [r for r in rows(after, "pending_inputs") if r["participant_id"] == now.participant_id]
    assert [(r["kind"], r["round_number"], r["statement_code"]) for r in mine] == [
        ("comment", expected.action.round, expected.action.code)]
    def others(shot: Snapshot) -> list[dict[str, Any]]:  # a snapshot is a set: sort it
        return sorted((r for r in rows(shot, "pending_inputs")
                       if r["participant_id"] != now.participant_id),
                      key=lambda r: r["participant_id"])

    assert others(before) == others(after)


def _ballot_of(shot: Snapshot, now: World) -> dict[str, Any] | None:
    found = [b for b in rows(shot, "ballots") if b["id"] == now.ballot_id]
    return found[0] if found else None


def _submit(expected: Expected, now: World, before: Snapshot, after: Snapshot,
            changed: dict[str, Any]) -> None:
    assert set(changed) == {"ballots"}, changed
    added, removed = changed["ballots"]
    assert len(added) == len(removed) == 1
    ballot = _ballot_of(after, now)
    assert ballot is not None and ballot["submitted_at"] is not None


def _reopen(expected: Expected, now: World, before: Snapshot, after: Snapshot,
            changed: dict[str, Any]) -> None:
    assert set(changed) <= {"ballots"}, changed
    ballot = _ballot_of(after, now)
    assert ballot is None or ballot["submitted_at"] is None


def _withdraw(expected: Expected, now: World, before: Snapshot, after: Snapshot,
              changed: dict[str, Any]) -> None:
    assert set(changed) <= {"participants", "pending_inputs"}, changed
    [me] = [p for p in rows(after, "participants") if p["id"] == now.participant_id]
    assert me["status"] == "withdrawn"
    assert all(r["participant_id"] != now.participant_id for r in rows(after, "pending_inputs"))


def _close(expected: Expected, now: World, before: Snapshot, after: Snapshot,
           changed: dict[str, Any]) -> None:
    for untouched in ("ratings", "comments", "ballots", "participants", "identities"):
        assert untouched not in changed, untouched
    [closed] = [r for r in rows(after, "rounds") if r["id"] == now.open_round_id]
    assert closed["status"] == "closed"
    results = [r for r in rows(after, "round_results") if r["round_id"] == now.open_round_id]
    assert len(results) == len(now.ballot)
    active = {p["id"] for p in rows(after, "participants") if p["status"] == "active"}
    queued = [r for r in rows(after, "outbox") if r not in rows(before, "outbox")]
    assert sorted(r["participant_id"] for r in queued if r["kind"] == "round_summary") \
        == sorted(active)
    audit = [r for r in rows(after, "audit_log") if r not in rows(before, "audit_log")]
    assert [(r["action"], r["actor"]) for r in audit] == [
        ("closeround", f"{PLATFORM}:{COORDINATOR}")]


EFFECTS = {"none": _none, "rate": _rate, "comment": _comment, "submit": _submit,
           "reopen": _reopen, "withdraw": _withdraw, "close": _close}


# --- the data ----------------------------------------------------------------------------

ROUNDS = st.integers(0, 3) | st.sampled_from([99, 100])
VALID_ACTIONS = st.one_of(
    st.builds(actions.Rate, ROUNDS, st.sampled_from((*CODES, "S99", "s01", "S01.v2")),
              st.none() | st.integers(0, 10)),
    st.builds(actions.Rate, st.just(2), st.sampled_from(CODES), st.none() | st.integers(1, 5)),
    st.builds(actions.AskComment, ROUNDS, st.sampled_from((*CODES, "S99"))),
    st.builds(actions.Goto, ROUNDS, st.integers(0, 7)),
    st.just(actions.Resume()),
    st.builds(actions.Review, ROUNDS),
    st.builds(actions.Submit, ROUNDS),
    st.builds(actions.Reopen, ROUNDS),
    st.builds(actions.Consent, st.booleans()),
    st.builds(actions.Screen, st.sampled_from(["certified", "q1", "x"]), st.integers(0, 9)),
    st.builds(actions.Withdraw, st.booleans()),
    st.builds(actions.CloseRound, ROUNDS, st.booleans()),
).map(actions.encode)
BALLOT_CODES = st.sampled_from(("S01", "S03", "S04", "S05"))  # round 2's ballot
CURRENT_ACTIONS = st.one_of(  # what round 2's own buttons carry: mostly valid, for someone
    st.builds(actions.Rate, st.just(2), BALLOT_CODES, st.none() | st.integers(1, 5)),
    st.builds(actions.AskComment, st.just(2), BALLOT_CODES),
    st.builds(actions.Goto, st.just(2), st.integers(1, 4)),
    st.sampled_from([actions.Resume(), actions.Review(2), actions.Submit(2), actions.Reopen(2)]),
).map(actions.encode)
NUMBERISH = st.sampled_from(["0", "01", "002", "-1", "+1", " 1", "1 ", "1\n", "²", "١",
                            "٣", "３", "1e2", "0x1", "1_0", "99", "100", "999", "1000"])
ODD = NUMBERISH | st.sampled_from(["", "|", "||", "u", "U", "y", "n", "Y", "S01", "S02",
                       "S99", "s01", "S01 ", "S01\x00", "Ｓ01", "S" * 40, "é", "\u202e",
                       "\ufeff", "\x7f", "\ud800", "💥", "null", "None", "%s", "{}"])
FIELD = ODD | st.text(max_size=6)
HAND_BUILT = st.builds(
    lambda version, verb, fields, separator: separator.join([version, verb, *fields]),
    st.sampled_from(["1", "1", "1", "0", "2", "", "v1", "1 ", "١", "01"]),
    st.sampled_from(["r", "m", "g", "n", "v", "s", "o", "w", "x", "c", "q", "", "R", "rr",
                     "z", "r\x00"]),
    st.lists(FIELD, max_size=5),
    st.sampled_from(["|", "|", "|", "¦", ",", "||", "|\x00"]))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A real encoding with one to three edits: characters cut, added or replaced, a
    field swapped for an odd one, doubled or dropped, a tail past 64 bytes."""
    data = draw(VALID_ACTIONS)
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.sampled_from(["cut", "add", "replace", "field", "field", "double",
                                     "drop", "tail"]))
        at = draw(st.integers(0, len(data)))
        if edit == "field":  # one whole field swapped for an odd one
            fields = data.split("|")
            fields[draw(st.integers(0, len(fields) - 1))] = draw(ODD)
            data = "|".join(fields)
        elif edit == "cut":
            data = data[:at] + data[at + 1:]
        elif edit == "add":
            data = data[:at] + draw(ODD | st.characters()) + data[at:]
        elif edit == "replace":
            data = data[:at] + draw(st.characters(exclude_categories=())) + data[at + 1:]
        elif edit == "double":
            fields = data.split("|")
            index = draw(st.integers(0, len(fields) - 1))
            data = "|".join(fields[:index + 1] + fields[index:])
        elif edit == "drop":
            fields = data.split("|")
            del fields[draw(st.integers(0, len(fields) - 1))]
            data = "|".join(fields)
        else:
            data += draw(st.text(min_size=1, max_size=80))
    return data


@st.composite
def one_field_off(draw: st.DrawFn) -> str:
    """A real encoding with exactly one field (version, verb or value) swapped for an odd
    one: the closest a forgery gets to passing."""
    fields = draw(CURRENT_ACTIONS | VALID_ACTIONS).split("|")
    fields[draw(st.integers(0, len(fields) - 1))] = draw(NUMBERISH | ODD)
    return "|".join(fields)


# Drawn by a uniform choice of kind first (``one_of`` alone favours its first branches
# in a short run), so each kind gets about a tenth of the examples (round 2's own
# buttons two tenths).
DATA = st.sampled_from([
    CURRENT_ACTIONS,
    CURRENT_ACTIONS,
    VALID_ACTIONS,
    one_field_off(),
    mutated(),
    HAND_BUILT,
    st.text(st.characters(exclude_categories=()), max_size=80),  # lone surrogates too
    st.binary(max_size=96).map(lambda raw: raw.decode("utf-8", "surrogateescape")),
    st.binary(max_size=96).map(lambda raw: raw.decode("latin-1")),
    st.text(min_size=60, max_size=300),
]).flatmap(lambda kind: kind)
PRESSER = st.sampled_from(("halfway", "halfway", "submitted", "idle", "idle", "withdrawn",
                           "stranger", COORDINATOR))


# --- through the conductor -----------------------------------------------------------------

@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(presser=PRESSER, data=DATA)
@example(presser="halfway", data="1|r|2|S01|4")  # valid: recorded
@example(presser="idle", data="1|r|2|S03|u")  # valid: unable to rate, starts the ballot
@example(presser="halfway", data="1|m|2|S04")  # valid: a comment is expected
@example(presser="submitted", data="1|o|2")  # valid: the ballot is reopened
@example(presser="halfway", data="1|r|2|S02|4")  # S02 was dropped after round 1
@example(presser="halfway", data="1|r|1|S01|4")  # round 1 is closed
@example(presser="halfway", data="1|r|3|S01|4")  # round 3 does not exist
@example(presser="halfway", data="1|r|2|S01|9")  # off the 5-point scale
@example(presser="idle", data="1|s|2")  # submitting an empty ballot
@example(presser="withdrawn", data="1|r|2|S01|3")  # withdrawn
@example(presser="stranger", data="1|r|2|S01|3")  # not on the panel
@example(presser=COORDINATOR, data="1|r|2|S01|3")  # the coordinator is not an expert
@example(presser="halfway", data="1|x|2|y")  # an expert pressing the coordinator's button
@example(presser="halfway", data="2|r|2|S01|4")  # a future version
@example(presser="halfway", data="1|v|²")  # isdigit() but not int(): was a ValueError
@example(presser="halfway", data="1|r|2|S01|٣")  # an Arabic-Indic 3: was accepted as 3
@example(presser="halfway", data="1|g|2|01")  # a leading zero: not canonical
@example(presser="halfway", data="1|r|2|S01\n|4")  # a newline after the id: was accepted
@example(presser="halfway", data="\ud800|r|2")  # a lone surrogate: was a UnicodeEncodeError
@example(presser="halfway", data="1|r|2|S01|4" + "x" * 60)  # past 64 bytes
async def test_any_button_data_is_refused_clearly_or_does_exactly_what_it_says(
        study: Study, presser: str, data: str) -> None:
    spec = study.conductor.context.spec
    now = await world(study.store, spec.scale.points, PLATFORM, presser)
    before = await snapshot(study.store)
    expected = expect(presser, data, now, spec.scale.unable_to_rate)
    event("refused" if expected.refused else f"accepted: {expected.effect}")
    reply = await study.conductor.handle(Pressed(study.who(presser), f"fuzz-{next(_keys)}",
                                                 data))
    after = await snapshot(study.store)
    toast = None if reply.toast is None else str(reply.toast)  # as Telegram spells it
    check(expected, presser, now, toast, reply.alert, before, after, reply)


# --- through python-telegram-bot ---------------------------------------------------------

@dataclass
class Telegram:
    """One expert in round 1, served by the real PTB application against the fake."""

    fake: FakeTelegram
    store: Store
    spec: StudyFile
    expert: SimulatedUser
    card: ChatMessage

    def __repr__(self) -> str:
        return "Telegram(one expert, round 1 open)"


async def nothing_pending(store: Store) -> bool:
    async with store.transaction() as session:
        return not await session.scalar(select(func.count()).select_from(OutboxMessage)
                                        .where(OutboxMessage.status == "pending"))


@pytest.fixture
async def telegram(store: Store, clock: ManualClock) -> AsyncIterator[Telegram]:
    spec = await loaded(store, clock.now())
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        expert, card = await one_expert_in_round_one(bot)
        # The card can reach the fake before the background dispatcher commits it as
        # delivered; that late commit must not land inside an example's before/after.
        await until(lambda: nothing_pending(store), "the round's cards marked delivered")
        yield Telegram(fake, store, spec, expert, card)
        assert not fake.internal_errors


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=DATA)
@example(data="1|r|1|S01|4")  # valid: recorded
@example(data="1|v|²")
@example(data="\ud800|r|1")  # travels as JSON "\\ud800"
@example(data="1|r|1|S01|4\x00")
@example(data="1|r|1|S01|4" + "x" * 60)
async def test_button_data_through_python_telegram_bot(telegram: Telegram, data: str) -> None:
    """A sample of the same data as a forged callback query: the Telegram update is parsed
    by PTB, handled by the adapter and answered through answerCallbackQuery."""
    user = telegram.expert
    now = await world(telegram.store, telegram.spec.scale.points, "telegram", str(user.id))
    before = await snapshot(telegram.store)
    expected = expect(str(user.id), data, now, telegram.spec.scale.unable_to_rate)
    query = telegram.fake.register_callback_query(user, telegram.card, data)
    telegram.fake.push_update("callback_query", {
        "id": query.id, "from": user.as_api_user(), "message": telegram.card.to_api(),
        "chat_instance": f"ci-{user.id}", "data": data})
    answered = await query.wait_answered(timeout=15)
    after = await snapshot(telegram.store)
    check(expected, str(user.id), now, answered.answer_text, answered.show_alert, before, after)
