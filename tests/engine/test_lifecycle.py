"""The round lifecycle and idempotent input, at the engine level, on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import ballots, revisions, rounds, standing
from engine.clock import ManualClock
from engine.db import Store
from engine.enrolment import PlatformUser, create_invites, record_consent, redeem_invite
from engine.errors import (
    BallotSubmitted,
    DeadlinePassed,
    InvalidValue,
    NoMoreRounds,
    NotOnBallot,
    ParticipantInactive,
    RevisionNotAllowed,
    RoundAlreadyOpen,
    RoundClosed,
    RoundNotOpen,
    Step,
)
from engine.models import Rating, Round, Study, round_status_is
from tests.engine.helpers import enrol_panel, loaded


async def count_ratings(store: Store) -> int:
    async with store.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Rating)) or 0


async def test_round_one_opens_and_freezes_the_protocol(store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    async with store.transaction() as session:
        opened = await rounds.open_round(session, spec.study.id, clock.now())
        study = await session.get(Study, spec.study.id)
    assert opened.number == 1 and opened.status == "open"
    assert opened.deadline == clock.now() + timedelta(days=spec.schedule.round_days)
    assert study is not None and study.protocol_frozen_at == clock.now()
    assert len(study.protocol_hash) == 64


async def test_second_open_round_is_refused(store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
    with pytest.raises(RoundAlreadyOpen, match="Round 1 is already open"):
        async with store.transaction() as session:
            await rounds.open_round(session, spec.study.id, clock.now())


async def test_double_rating_keeps_one_row_with_the_last_value(
    store: Store, clock: ManualClock
) -> None:
    spec = await loaded(store, clock.now())
    [expert] = await enrol_panel(store, spec.study.id, 1, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
    for value in (4, 4, 2):
        async with store.transaction() as session:
            receipt = await ballots.record_rating(session, expert, 1, "S01", value, clock.now())
    assert receipt.value == 2 and receipt.previous == 4 and receipt.replaced
    assert await count_ratings(store) == 1
    async with store.transaction() as session:
        assert await session.scalar(select(Rating.value)) == 2


async def test_unable_to_rate_is_stored_as_null(store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    [expert] = await enrol_panel(store, spec.study.id, 1, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
        receipt = await ballots.record_rating(session, expert, 1, "S02", None, clock.now())
    assert receipt.progress.unable == 1 and receipt.progress.answered == 1
    async with store.transaction() as session:
        assert await session.scalar(select(Rating.value)) is None


async def test_rating_after_close_is_refused_and_writes_nothing(
    store: Store, clock: ManualClock
) -> None:
    spec = await loaded(store, clock.now())
    [expert] = await enrol_panel(store, spec.study.id, 1, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
        await ballots.record_rating(session, expert, 1, "S01", 5, clock.now())
        closed = await rounds.close_round(session, spec.study.id, clock.now())
        closed_ratings = await rounds.round_ratings(session, closed.round)
    assert [r.rating for r in closed_ratings] == [5]
    with pytest.raises(RoundClosed, match="Round 1 has closed") as refused:
        async with store.transaction() as session:
            await ballots.record_rating(session, expert, 1, "S01", 1, clock.now())
    assert Step("ballot") in refused.value.parts  # the next step, named for any messenger
    assert str(refused.value).endswith("Send /ballot for the current round.")
    assert await count_ratings(store) == 1
    async with store.transaction() as session:
        assert await session.scalar(select(Rating.value)) == 5


async def test_closing_twice_and_reopening_a_closed_round_are_refused(
    store: Store, clock: ManualClock
) -> None:
    spec = await loaded(store, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
        await rounds.close_round(session, spec.study.id, clock.now())
    with pytest.raises(RoundNotOpen):
        async with store.transaction() as session:
            await rounds.close_round(session, spec.study.id, clock.now())
    with pytest.raises(RoundClosed, match="Round 1 is closed and cannot be reopened"):
        async with store.transaction() as session:
            await rounds.open_round(session, spec.study.id, clock.now(), number=1)
    async with store.transaction() as session:
        statuses = (await session.scalars(select(Round.status))).all()
    assert statuses == ["closed"]


async def test_next_round_carries_revised_and_added_statements(
    store: Store, clock: ManualClock
) -> None:
    spec = await loaded(store, clock.now())
    [expert] = await enrol_panel(store, spec.study.id, 1, clock.now())
    study_id = spec.study.id
    async with store.transaction() as session:
        await rounds.open_round(session, study_id, clock.now())
    with pytest.raises(RevisionNotAllowed, match="Round 1 is open"):
        async with store.transaction() as session:
            await revisions.revise_statement(session, study_id, "S01", "New", clock.now())
    async with store.transaction() as session:
        await rounds.close_round(session, study_id, clock.now())
        draft = await rounds.prepare_next_round(session, study_id, ["S01", "S02", "S03"])
        assert draft is not None and draft.number == 2
        revised = await revisions.revise_statement(
            session, study_id, "S01", "Daily  broad-spectrum   sunscreen is advisable.",
            clock.now(), note="clarified")
        await revisions.drop_statement(session, study_id, "S02", clock.now(), reason="unclear")
        added = await revisions.add_statement(session, study_id, "Acne treatment",
                                              "A new statement.", clock.now())
        second = await rounds.open_round(session, study_id, clock.now())
    assert revised.version == 2 and revised.revised_from_id is not None
    assert revised.text == "Daily broad-spectrum sunscreen is advisable."
    async with store.transaction() as session:
        items = await ballots.ballot_items(session, second)
    assert [i.code for i in items] == ["S01", "S03", added_code(added, items)]
    assert items[0].change_note == "clarified" and items[0].version == 2
    with pytest.raises(NotOnBallot, match="S02 is not on the ballot of round 2"):
        async with store.transaction() as session:
            await ballots.record_rating(session, expert, 2, "S02", 3, clock.now())


def added_code(version: object, items: list[ballots.BallotItem]) -> str:
    return next(i.code for i in items if i.version_id == version.id)  # type: ignore[attr-defined]


async def test_no_round_beyond_max_rounds(store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())  # tiny.toml allows two rounds
    study_id = spec.study.id
    codes = [s.id for s in spec.statements]
    for _ in range(spec.study.max_rounds):
        async with store.transaction() as session:
            await rounds.open_round(session, study_id, clock.now())
            await rounds.close_round(session, study_id, clock.now())
            await rounds.prepare_next_round(session, study_id, codes)
    with pytest.raises(NoMoreRounds):
        async with store.transaction() as session:
            await rounds.open_round(session, study_id, clock.now())
    with pytest.raises(NoMoreRounds):
        async with store.transaction() as session:
            await revisions.add_statement(session, study_id, "X", "Y", clock.now())


async def test_deadline_stops_changes(store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    [expert] = await enrol_panel(store, spec.study.id, 1, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now(),
                                deadline=clock.now() + timedelta(hours=1))
        await ballots.record_rating(session, expert, 1, "S01", 3, clock.now())
    clock.advance(timedelta(hours=1))
    with pytest.raises(DeadlinePassed):
        async with store.transaction() as session:
            await ballots.record_rating(session, expert, 1, "S01", 4, clock.now())


async def test_submit_needs_a_complete_ballot_and_then_locks_it(
    store: Store, clock: ManualClock
) -> None:
    spec = await loaded(store, clock.now())
    [expert] = await enrol_panel(store, spec.study.id, 1, clock.now())
    codes = [s.id for s in spec.statements]
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
        await ballots.record_rating(session, expert, 1, codes[0], 5, clock.now())
    with pytest.raises(InvalidValue, match="4 statements are still unanswered"):
        async with store.transaction() as session:
            await ballots.submit_ballot(session, expert, clock.now())
    async with store.transaction() as session:
        for code in codes[1:]:
            await ballots.record_rating(session, expert, 1, code, 4, clock.now())
        first = await ballots.submit_ballot(session, expert, clock.now())
        again = await ballots.submit_ballot(session, expert, clock.now() + timedelta(1))
    assert first.submitted_at == again.submitted_at == clock.now()
    with pytest.raises(BallotSubmitted):
        async with store.transaction() as session:
            await ballots.record_rating(session, expert, 1, codes[0], 1, clock.now())
    async with store.transaction() as session:
        reopened = await ballots.reopen_ballot(session, expert, clock.now())
        receipt = await ballots.record_rating(session, expert, 1, codes[0], 1, clock.now())
    assert reopened.submitted_at is None and receipt.value == 1


async def test_bad_values_and_inactive_experts_write_nothing(
    store: Store, clock: ManualClock
) -> None:
    spec = await loaded(store, clock.now())
    first, second = await enrol_panel(store, spec.study.id, 2, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
    for value in (0, 6, -1):
        with pytest.raises(InvalidValue, match="from 1 to 5"):
            async with store.transaction() as session:
                await ballots.record_rating(session, first, 1, "S01", value, clock.now())
    from engine.enrolment import withdraw

    async with store.transaction() as session:
        await withdraw(session, second, clock.now())
    with pytest.raises(ParticipantInactive, match="withdrawn"):
        async with store.transaction() as session:
            await ballots.record_rating(session, second, 1, "S01", 3, clock.now())
    assert await count_ratings(store) == 0


async def test_next_unanswered_walks_the_ballot_in_order(store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    [expert] = await enrol_panel(store, spec.study.id, 1, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
    seen = []
    while True:
        async with store.transaction() as session:
            item = await ballots.next_unanswered(session, expert)
            if item is None:
                break
            seen.append((item.position, item.total, item.code))
            await ballots.record_rating(session, expert, 1, item.code, 3, clock.now())
    assert seen == [(i, 5, s.id) for i, s in enumerate(spec.statements, start=1)]


async def test_comment_is_replaced_not_duplicated(store: Store, clock: ManualClock) -> None:
    from engine.models import Comment

    spec = await loaded(store, clock.now())
    [expert] = await enrol_panel(store, spec.study.id, 1, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
        await ballots.record_comment(session, expert, 1, "S01", "first", clock.now())
        await ballots.record_comment(session, expert, 1, "S01", " second ", clock.now())
    with pytest.raises(InvalidValue, match="at most 2000"):
        async with store.transaction() as session:
            await ballots.record_comment(session, expert, 1, "S01", "x" * 2001, clock.now())
    async with store.transaction() as session:
        texts = (await session.scalars(select(Comment.text))).all()
    assert texts == ["second"]


async def test_a_standing_sees_what_the_same_transaction_changed(
    store: Store, clock: ManualClock
) -> None:
    """Consent and the first rating in one transaction: the ballot's one-statement read
    must see the status the ORM has not written yet."""
    spec = await loaded(store, clock.now())
    async with store.transaction() as session:
        [token] = await create_invites(session, spec.study.id, 1, clock.now())
        who = PlatformUser("telegram", "77", "77")
        participant = await redeem_invite(session, spec.study.id, token, who, clock.now())
        await rounds.open_round(session, spec.study.id, clock.now())
        await record_consent(session, participant.id, True, clock.now())
        found = await standing.standing_of(session, spec.study.id, "telegram", "77")
        assert found is not None and found.status == "active"
        receipt = await ballots.record_rating(session, found, 1, "S01", 5, clock.now())
    assert receipt.progress.answered == 1
    async with store.transaction() as session:
        again = await standing.standing(session, participant.id)
    assert again.ballot_id is not None and list(again.given.values()) == [5]
    assert again.round is not None and again.round.number == 1


async def test_round_status_is_written_into_sql_only_for_known_statuses() -> None:
    assert "'open'" in str(round_status_is("open"))
    with pytest.raises(ValueError, match="unknown round status"):
        round_status_is("open' OR 1=1 --")
