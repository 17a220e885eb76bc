"""Every state change has exactly one winner and every loser is answered: two requests
released together by a barrier, on two connection pools (as two workers), on SQLite and
on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from adapters.memory import MemoryChat
from bot.chat import actions
from bot.dialogue.closing import RoundCloser
from bot.dialogue.conductor import CLOSED_WHILE_SAVING, SAME_MOMENT
from bot.dialogue.texts import format_time
from engine.clock import ManualClock
from engine.db import Store
from engine.locks import hold_study
from engine.models import (
    AuditEntry,
    Comment,
    Identity,
    Invite,
    OutboxMessage,
    Participant,
    Rating,
    Round,
    RoundItem,
    RoundResult,
    ScheduledTask,
    Statement,
    StatementVersion,
)
from engine.round_reading import RoundReading
from tests.conftest import Backend
from tests.engine.helpers import loaded
from tests.reliability.races import TwoWorkers, together, tracebacks, waiting_on_locks
from tests.reliability.workers import until

USED = "This invite has already been used"
ROUND_HAS_CLOSED = ("Round 1 has closed; this button no longer works. Send /ballot for the "
                    "current round.")


@pytest.fixture
async def two(backend: Backend, clock: ManualClock) -> AsyncIterator[TwoWorkers]:
    first, second = backend.store(), backend.store()
    try:
        await first.create_all()
        spec = await loaded(first, clock.now())
        two = TwoWorkers((first, second), clock, spec)
        await two.warm_up()
        yield two
    finally:
        await first.dispose()
        await second.dispose()


async def test_one_invite_enrols_one_of_two_accounts(two: TwoWorkers,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    [token] = await two.invites(1)
    alice, bob = two.expert("alice", worker=0), two.expert("bob", worker=1)
    await together(lambda: alice.command("start", token), lambda: bob.command("start", token))
    answers = [chat.last.plain_text() for chat in (alice, bob)]
    assert sorted(USED in text for text in answers) == [False, True], answers
    winner = alice if USED in answers[1] else bob
    winner.find("I agree to take part")  # the winner is shown the consent screen
    assert await two.count(Participant) == 1
    assert await two.count(Identity) == 1
    assert await two.count(Identity, Identity.user_id == winner.user_id) == 1
    assert await two.count(Invite, Invite.participant_id.is_not(None)) == 1
    assert await two.count(OutboxMessage) == 0
    assert not tracebacks(caplog.records)


async def test_one_account_with_two_invites_is_enrolled_once(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    first, second = await two.invites(2)
    on_one, on_other = two.expert("carl", worker=0), two.expert("carl", worker=1)
    await together(lambda: on_one.command("start", first),
                   lambda: on_other.command("start", second))
    for chat in (on_one, on_other):  # both are answered: the consent, or "already enrolled"
        text = chat.last.plain_text()
        assert "already enrolled" in text or chat.find("I agree to take part"), text
    assert await two.count(Participant) == 1
    assert await two.count(Identity) == 1
    assert await two.count(Invite, Invite.participant_id.is_not(None)) == 1
    assert not tracebacks(caplog.records)


async def open_round_one(two: TwoWorkers, experts: int = 2) -> list[MemoryChat]:
    chats = await two.enrol(experts)
    await two.coordinators[0].command("openround", "7d")
    await two.deliver()
    return chats


async def close_round_one(two: TwoWorkers) -> None:
    await two.coordinators[0].command("closeround")
    await two.coordinators[0].press("Close the round")
    await two.deliver()


async def both_after_round_one(two: TwoWorkers, cora_says: tuple[str, ...],
                               cole_says: tuple[str, ...]) -> list[MemoryChat]:
    """Round 1 opened and closed, then the two coordinators each send one command at once:
    the race every round-2 draft test starts from. Returns the experts."""
    experts = await open_round_one(two)
    await close_round_one(two)
    cora, cole = two.coordinators
    await together(lambda: cora.command(*cora_says), lambda: cole.command(*cole_says))
    return experts


async def test_two_openrounds_open_one_round_and_experts_get_its_deadline(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    experts = await two.enrol(2)
    cora, cole = two.coordinators
    await together(lambda: cora.command("openround", "3d"),
                   lambda: cole.command("openround", "10d"))
    answers = [chat.last.plain_text() for chat in (cora, cole)]
    assert sorted("Round 1 is already open" in a for a in answers) == [False, True], answers
    won = 0 if "Round 1 is open until" in answers[0] else 1
    assert "Round 1 is open until" in answers[won]
    async with two.stores[0].transaction() as session:
        stored = await session.scalar(select(Round).where(Round.number == 1))
    assert stored is not None and stored.status == "open"
    assert stored.deadline == two.clock.now() + timedelta(days=(3, 10)[won])
    told = format_time(stored.deadline, two.spec.study.timezone)
    assert told in answers[won]
    assert await two.count(OutboxMessage, OutboxMessage.kind == "round_open") == len(experts)
    await two.deliver()
    for expert in experts:
        opened = [m.card.plain_text() for m in expert.messages
                  if m.card.plain_text().startswith("Round 1 is open")]
        assert len(opened) == 1 and f"until {told}" in opened[0], expert.transcript()
    await two.scheduler.sync()
    async with two.stores[0].transaction() as session:
        due = await session.scalar(select(ScheduledTask.due_at).where(
            ScheduledTask.kind == "deadline"))
    assert due == stored.deadline  # the scheduler follows the stored deadline
    assert not tracebacks(caplog.records)


async def test_two_close_confirmations_close_once(two: TwoWorkers,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    experts = await open_round_one(two)
    cora, cole = two.coordinators
    for chat in (cora, cole):
        await chat.command("closeround")
    confirms = [chat.find("Close the round") for chat in (cora, cole)]
    replies = await together(
        lambda: cora.press_data(confirms[0][1].data, confirms[0][0]),
        lambda: cole.press_data(confirms[1][1].data, confirms[1][0]))
    toasts = sorted(str(reply.toast) for reply in replies)
    assert toasts == ["Round 1 closed.", "Round 1 was already closed; nothing was changed."]
    assert await two.count(Round, Round.number == 1, Round.status == "closed") == 1
    assert await two.count(RoundResult) == len(two.spec.statements)
    assert await two.count(OutboxMessage, OutboxMessage.kind == "round_summary") == len(experts)
    assert not tracebacks(caplog.records)


async def test_two_revisions_of_one_statement_leave_one(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    wordings = ("Nurses lead the ward round.", "Nurses co-lead the ward round.")
    await both_after_round_one(two, ("revise", f"S01 {wordings[0]}"),
                               ("revise", f"S01 {wordings[1]}"))
    cora, cole = two.coordinators
    answers = [chat.last.plain_text() for chat in (cora, cole)]
    won = [i for i, a in enumerate(answers) if a.startswith("S01 revised (version 2)")]
    lost = [i for i, a in enumerate(answers)
            if a.startswith(f"S01 was just revised by another coordinator; nothing changed. "
                            f"Its wording is now: {wordings[1 - i]}")]
    assert sorted(won + lost) == [0, 1], answers  # each answered: revised, or refused
    async with two.stores[0].transaction() as session:
        versions = (await session.scalars(
            select(StatementVersion).join(Statement).where(Statement.code == "S01")
            .order_by(StatementVersion.version))).all()
    assert [v.version for v in versions] == [1, 2]
    # What is stored is what the last coordinator told "revised" was told.
    assert versions[1].text in {wordings[i] for i in won}
    if lost:
        assert versions[1].text == wordings[won[0]]
    assert not tracebacks(caplog.records)


async def test_two_additions_of_one_statement_add_it_once(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    text = "Handover happens at the bedside."
    await both_after_round_one(two, ("add", f"Sun protection | {text}"),
                               ("add", f"Sun protection | {text}"))
    cora, cole = two.coordinators
    answers = sorted(chat.last.plain_text() for chat in (cora, cole))
    assert answers[0].startswith(f"Added S06 (Sun protection) for round 2: {text}"), answers
    assert answers[1] == ("That statement is already on round 2's ballot as S06; nothing "
                          "was changed."), answers
    assert await two.count(Statement) == len(two.spec.statements) + 1
    assert not tracebacks(caplog.records)


async def test_two_different_additions_both_land(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    """Not a conflict: two statements, two distinct ids, nothing lost."""
    await both_after_round_one(two, ("add", "Sun protection | Handover is at the bedside."),
                               ("add", "Sun protection | Checklists are read aloud."))
    cora, cole = two.coordinators
    for chat in (cora, cole):
        assert chat.last.plain_text().startswith("Added S0"), chat.last.plain_text()
    async with two.stores[0].transaction() as session:
        codes = (await session.scalars(select(Statement.code).order_by(Statement.code))).all()
        items = await session.scalar(select(func.count()).select_from(RoundItem).join(Round)
                                     .where(Round.number == 2))
    assert codes[-2:] == ["S06", "S07"]
    assert items == len(two.spec.statements) + 2
    assert not tracebacks(caplog.records)


async def test_revising_two_statements_at_once_keeps_both(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    """Different statements of one draft: both revisions land, the ballot holds both."""
    await both_after_round_one(two, ("revise", "S01 First, revised."),
                               ("revise", "S02 Second, revised."))
    cora, cole = two.coordinators
    for chat in (cora, cole):
        assert "revised (version 2)" in chat.last.plain_text(), chat.last.plain_text()
    async with two.stores[0].transaction() as session:
        on_ballot = set((await session.scalars(
            select(StatementVersion.text).join(RoundItem).join(Round)
            .where(Round.number == 2))).all())
    assert {"First, revised.", "Second, revised."} <= on_ballot
    assert not tracebacks(caplog.records)


async def test_two_drops_of_one_statement(two: TwoWorkers,
                                          caplog: pytest.LogCaptureFixture) -> None:
    await both_after_round_one(two, ("drop", "S03 duplicate"),
                               ("drop", "S03 unclear"))
    cora, cole = two.coordinators
    answers = sorted(chat.last.plain_text() for chat in (cora, cole))
    assert answers == ["S03 dropped from round 2 on.", "Statement S03 was dropped in round 2."]
    assert not tracebacks(caplog.records)


async def test_extend_and_close_at_once(two: TwoWorkers,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """Whichever comes first wins; an /extend after the close is told no round is open,
    a close after the /extend closes the round with the extended deadline stored."""
    await open_round_one(two)
    cora, cole = two.coordinators
    await cole.command("closeround")
    shown, button = cole.find("Close the round")
    await together(lambda: cora.command("extend", "3d"),
                   lambda: cole.press_data(button.data, shown))
    extended = cora.last.plain_text()
    assert extended.startswith("Round 1 now closes") or extended.startswith(
        "No round is open"), extended
    assert "Round 1 closed." in cole.toasts
    assert await two.count(Round, Round.number == 1, Round.status == "closed") == 1
    assert not tracebacks(caplog.records)


async def test_deadline_and_close_confirmation_at_once(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    """The scheduler closing at the deadline and a coordinator's confirmation: one closes,
    the other is told (or skips), results are stored once."""
    experts = await open_round_one(two)
    cora = two.coordinators[0]
    await cora.command("closeround")
    shown, button = cora.find("Close the round")
    two.clock.advance(timedelta(days=8))
    await two.scheduler.sync(two.clock.now() - timedelta(days=8))
    outcome, reply = await together(lambda: two.scheduler.run_due(),
                                    lambda: cora.press_data(button.data, shown))
    assert reply.toast in ("Round 1 closed.", "Round 1 was already closed; nothing was "
                           "changed.")
    assert (outcome["closed"], reply.toast == "Round 1 closed.") in ((1, False), (0, True))
    assert await two.count(RoundResult) == len(two.spec.statements)
    assert await two.count(OutboxMessage, OutboxMessage.kind == "round_summary") == len(experts)
    assert not tracebacks(caplog.records)


@asynccontextmanager
async def queued_behind_a_held_lock(backend: Backend, clock: ManualClock
                                    ) -> AsyncIterator[tuple[TwoWorkers, Holder]]:
    """PostgreSQL only: a study with round 1 closed, and a way to send requests that all
    read first and then wait for the study's lock (held by the test) before it is let go:
    the order a real overlap has, made certain."""
    if backend.name != "postgresql":
        pytest.skip("SQLite runs whole transactions one after the other: none reads stale")
    application = f"race-{uuid.uuid4().hex[:8]}"
    settings = backend.engine_kwargs["connect_args"]["server_settings"]
    tagged = Backend(backend.name, backend.url, {"connect_args": {"server_settings": {
        **settings, "application_name": application}}})
    first, second, holder = tagged.store(), tagged.store(), backend.store()
    try:
        await first.create_all()
        two = TwoWorkers((first, second), clock, await loaded(first, clock.now()))
        await two.warm_up()

        async def held(*calls: Callable[[], Awaitable[object]]) -> None:
            async with holder.transaction() as session:
                await hold_study(session, two.spec.study.id)
                tasks = [asyncio.create_task(call()) for call in calls]  # type: ignore[arg-type]
                await until(lambda: _all_waiting(holder, application, len(calls)),
                            "every request waits for the study")
            await asyncio.gather(*tasks)

        yield two, held
    finally:
        for store in (first, second, holder):
            await store.dispose()


Holder = Callable[..., Awaitable[None]]


async def _all_waiting(store: Store, application: str, count: int) -> bool:
    return await waiting_on_locks(store, application) == count


async def test_a_revision_that_waited_behind_another_is_refused(
        backend: Backend, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    """Both revisions read S01, then wait for the study; the one that gets it second
    finds S01 revised since it read it and refuses instead of overwriting."""
    async with queued_behind_a_held_lock(backend, clock) as (two, held):
        await open_round_one(two)
        await close_round_one(two)
        cora, cole = two.coordinators
        await held(lambda: cora.command("revise", "S01 Wording A."),
                   lambda: cole.command("revise", "S01 Wording B."))
    answers = sorted(chat.last.plain_text() for chat in (cora, cole))
    assert answers[0].startswith("S01 revised (version 2) for round 2: Wording "), answers
    stored = answers[0].rsplit(": ", 1)[1]
    assert answers[1] == ("S01 was just revised by another coordinator; nothing changed. "
                          f"Its wording is now: {stored}"), answers
    assert not tracebacks(caplog.records)


async def test_an_extension_that_waited_behind_another_is_refused(
        backend: Backend, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    """Two `/extend 3d` that both saw the same deadline: three more days, not six."""
    async with queued_behind_a_held_lock(backend, clock) as (two, held):
        experts = await open_round_one(two)
        cora, cole = two.coordinators
        await held(lambda: cora.command("extend", "3d"), lambda: cole.command("extend", "3d"))
        await two.deliver()
        async with two.stores[0].transaction() as session:
            deadline = await session.scalar(select(Round.deadline).where(Round.number == 1))
    assert deadline == clock.now() + timedelta(days=10)
    when = format_time(deadline, two.spec.study.timezone)
    answers = sorted(chat.last.plain_text() for chat in (cora, cole))
    assert answers[0].startswith(f"Round 1 now closes {when}"), answers
    assert answers[1] == (f"The deadline of round 1 was just moved by another coordinator, "
                          f"to {when}; nothing changed."), answers
    for expert in experts:
        moved = [m.card.plain_text() for m in expert.messages if "has moved" in
                 m.card.plain_text()]
        assert len(moved) == 1, expert.transcript()
    assert not tracebacks(caplog.records)


async def test_two_extensions_leave_the_last_told_deadline_stored(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    """Different new deadlines at once: whichever is applied last is stored, and it is
    the one its coordinator was told; the scheduler follows it."""
    await open_round_one(two)
    cora, cole = two.coordinators
    await together(lambda: cora.command("extend", "2026-01-20 18:00"),
                   lambda: cole.command("extend", "2026-01-25 18:00"))
    answers = [chat.last.plain_text() for chat in (cora, cole)]
    async with two.stores[0].transaction() as session:
        deadline = await session.scalar(select(Round.deadline).where(Round.number == 1))
    when = format_time(deadline, two.spec.study.timezone)
    assert any(a.startswith(f"Round 1 now closes {when}") for a in answers), answers
    assert all(a.startswith("Round 1 now closes") or "was just moved by another "
               "coordinator" in a for a in answers), answers
    await two.scheduler.sync()
    async with two.stores[0].transaction() as session:
        due = await session.scalar(select(ScheduledTask.due_at).where(
            ScheduledTask.kind == "deadline"))
    assert due == deadline
    assert not tracebacks(caplog.records)


async def test_ending_the_study_and_opening_round_two_at_once(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    experts = await both_after_round_one(two, ("endstudy", "confirm"),
                                         ("openround", "7d"))
    cora, cole = two.coordinators
    ended, opened = cora.last.plain_text(), cole.last.plain_text()
    rounds = await two.count(Round, Round.number == 2)
    if opened.startswith("Round 2 is open"):
        assert "Round 2 is open: close it first" in ended, ended
        assert rounds == 1
    else:
        assert ended.startswith("The study has ended after round 1"), ended
        assert opened.startswith("There is no further round to open"), opened
        assert rounds == 0
        assert await two.count(OutboxMessage, OutboxMessage.kind == "study_ended") == len(
            experts)
    assert await two.count(OutboxMessage, OutboxMessage.kind == "round_open") == len(
        experts) * (1 + rounds)
    assert not tracebacks(caplog.records)


async def test_ending_the_study_twice(two: TwoWorkers,
                                      caplog: pytest.LogCaptureFixture) -> None:
    experts = await both_after_round_one(two, ("endstudy", "confirm"),
                                         ("endstudy", "confirm"))
    cora, cole = two.coordinators
    answers = sorted(chat.last.plain_text() for chat in (cora, cole))
    assert sum(a == "The study has already ended." for a in answers) == 1, answers
    assert await two.count(OutboxMessage, OutboxMessage.kind == "study_ended") == len(experts)
    assert not tracebacks(caplog.records)


async def test_hide_and_unhide_of_one_comment_at_once(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    """Both answered; what is stored is what the coordinator served last was told."""
    [expert] = await open_round_one(two, experts=1)
    await expert.command("ballot")
    await expert.press("Comment")
    await expert.say("Depends on the ward.")
    async with two.stores[0].transaction() as session:
        comment_id = await session.scalar(select(Comment.id))
    cora, cole = two.coordinators
    await together(lambda: cora.command("hide", str(comment_id)),
                   lambda: cole.command("unhide", str(comment_id)))
    answers = {chat.user_id: chat.last.plain_text() for chat in (cora, cole)}
    assert "is hidden" in answers["coord"] and "is shown again" in answers["coord2"], answers
    async with two.stores[0].transaction() as session:
        hidden = await session.scalar(select(Comment.hidden))
        last = await session.scalar(select(AuditEntry.action).where(
            AuditEntry.action.in_(("hide", "unhide"))).order_by(AuditEntry.id.desc()))
    assert hidden == (last == "hide")
    assert not tracebacks(caplog.records)


async def test_experts_do_not_wait_for_a_coordinators_change(
        backend: Backend, clock: ManualClock) -> None:
    """While the study is locked for a coordinator's change, an expert's rating, comment
    and submission still go through (the lock does not block rows that merely refer to
    the study)."""
    async with queued_behind_a_held_lock(backend, clock) as (two, _):
        [expert] = await open_round_one(two, experts=1)
        await expert.command("ballot")
        async with two.stores[1].transaction() as session:
            await hold_study(session, two.spec.study.id)
            await asyncio.wait_for(expert.press("Comment"), 30)
            await asyncio.wait_for(expert.say("Still here."), 30)
            for _ in two.spec.statements:
                reply = await asyncio.wait_for(expert.press("4"), 30)
                assert str(reply.toast).startswith("Recorded")
            await asyncio.wait_for(expert.press("Submit my ballot"), 30)
        assert await two.count(Rating) == len(two.spec.statements)
        assert await two.count(Comment) == 1


async def test_a_nudge_that_waited_behind_another_sends_nothing(
        backend: Backend, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    """Two coordinators send /nudge at once: each incomplete expert is reminded once."""
    async with queued_behind_a_held_lock(backend, clock) as (two, held):
        experts = await open_round_one(two)
        cora, cole = two.coordinators
        await held(lambda: cora.command("nudge"), lambda: cole.command("nudge"))
        await two.deliver()
    answers = sorted(chat.last.plain_text() for chat in (cora, cole))
    assert answers == [
        "Round 1: reminder queued for 2 experts with an incomplete ballot.",
        "The experts were just reminded by another coordinator's /nudge; nothing more was "
        "sent."], answers
    for expert in experts:
        assert sum(m.card.heading == "A friendly reminder" for m in expert.messages) == 1
    assert not tracebacks(caplog.records)


async def test_two_nudges_at_once_are_both_answered(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    await open_round_one(two)
    cora, cole = two.coordinators
    await together(lambda: cora.command("nudge"), lambda: cole.command("nudge"))
    for chat in (cora, cole):
        text = chat.last.plain_text()
        assert text.startswith("Round 1: reminder queued") or "just reminded" in text, text
    assert not tracebacks(caplog.records)


async def test_a_unique_violation_becomes_a_sentence_and_writes_nothing(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    """A race no lock foresaw ends in the database's unique constraint; made certain here
    with a constraint of the test's own (one audit entry per action): the second /invite
    violates it at the database, is answered with a sentence, and creates no invite."""
    cora = two.coordinators[0]
    async with two.stores[0].transaction() as session:
        await session.execute(text("CREATE UNIQUE INDEX one_per_action ON audit_log (action)"))
    await cora.command("invite", "1")
    assert "single-use" in cora.last.plain_text()
    await cora.command("invite", "1")
    assert cora.last.plain_text() == SAME_MOMENT
    assert await two.count(Invite) == 1
    assert not tracebacks(caplog.records)


@dataclass(frozen=True)
class PausedCloser(RoundCloser):
    """The real close, held between its reading (before the write transaction) and its
    write transaction until the test lets it go on."""

    read_done: asyncio.Event = field(default_factory=asyncio.Event)
    go_on: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> RoundReading | None:
        reading = await super().read()
        self.read_done.set()
        await self.go_on.wait()
        return reading


async def _s01_counts(two: TwoWorkers) -> dict[str, int]:
    async with two.stores[0].transaction() as session:
        details = await session.scalar(
            select(RoundResult.details)
            .join(StatementVersion, StatementVersion.id == RoundResult.statement_version_id)
            .join(Statement, Statement.id == StatementVersion.statement_id)
            .where(Statement.code == "S01"))
    assert details is not None
    return {point: count for point, count in details["counts"].items() if count}


async def _closing_with_a_pause(two: TwoWorkers) -> tuple[list[MemoryChat], PausedCloser]:
    """Round 1 open, both experts rated S01 with 2, and the coordinator's close paused
    after its reading. Returns the experts and the paused close."""
    experts = await open_round_one(two)
    for expert in experts:
        await expert.press_data(actions.encode(actions.Rate(1, "S01", 2)))
    conductor = two.conductors[0]
    context = conductor.context
    paused = PausedCloser(context.store, context.study_id, context.spec.feedback.chart)
    conductor.closer = conductor.coordination.closer = paused
    await two.coordinators[0].command("closeround")
    return experts, paused


async def test_a_press_while_the_close_reads_is_in_its_results(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    """An expert presses after the close read the ratings and before it writes: the
    expert is told "recorded", and the new rating is what the results count."""
    experts, paused = await _closing_with_a_pause(two)
    close = asyncio.create_task(two.coordinators[0].press("Close the round"))
    await asyncio.wait_for(paused.read_done.wait(), 30)
    pressed = await asyncio.wait_for(
        experts[0].press_data(actions.encode(actions.Rate(1, "S01", 5))), 30)
    assert str(pressed.toast).startswith("Recorded"), pressed
    paused.go_on.set()
    assert (await close).toast == "Round 1 closed."
    assert await _s01_counts(two) == {"2": 1, "5": 1}
    assert not tracebacks(caplog.records)


async def test_a_press_released_with_the_closes_write_is_counted_or_refused(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    """An expert's press and the close's write transaction released together by a
    barrier, the press on the other worker: the expert is either told "recorded" and
    the rating is counted, or told the round has closed and nothing changed. Never told
    "recorded" for a rating the results leave out."""
    experts, paused = await _closing_with_a_pause(two)
    pressing = two.expert(experts[1].user_id, worker=1)
    close = asyncio.create_task(two.coordinators[0].press("Close the round"))
    await asyncio.wait_for(paused.read_done.wait(), 30)

    async def let_the_close_write() -> None:
        paused.go_on.set()

    _, pressed = await together(
        let_the_close_write,
        lambda: pressing.press_data(actions.encode(actions.Rate(1, "S01", 5))))
    assert (await close).toast == "Round 1 closed."
    counts = await _s01_counts(two)
    if str(pressed.toast).startswith("Recorded"):
        assert counts == {"2": 1, "5": 1}
    else:
        assert pressed.toast in (ROUND_HAS_CLOSED, CLOSED_WHILE_SAVING), pressed
        assert counts == {"2": 2}
    assert not tracebacks(caplog.records)
