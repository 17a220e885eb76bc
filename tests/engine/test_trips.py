"""Driver trips (engine.trips): the same rows written and read as through SQLAlchemy,
errors in SQLAlchemy's family, all or nothing, and another process's write waited for."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from engine import ballots, rounds, standing
from engine.clock import ManualClock
from engine.db import Store, in_one_trip
from engine.models import ProcessedUpdate, Rating
from engine.trips import CoreTrip
from tests.engine.helpers import enrol_panel, loaded


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> Store:
    store = Store.from_url(f"sqlite:///{tmp_path / 'trips.db'}")
    await store.create_all()
    return store


async def _round_with_ballots(store: Store, clock: ManualClock, experts: int) -> list[int]:
    """Round 1 open with a deadline (so the standing carries datetimes), and each expert's
    ballot started by a first rating of S01 (a full-path write)."""
    spec = await loaded(store, clock.now())
    people = await enrol_panel(store, spec.study.id, experts, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now(),
                                deadline=clock.now() + timedelta(days=7))
    for person in people:
        async with store.transaction() as session:
            await ballots.record_rating(session, person, 1, "S01", 3, clock.now())
    return people


def _identity(index: int) -> tuple[str, str, str]:
    return ("tiny", "telegram", str(1000 + index))  # as tests.engine.helpers enrols


async def test_a_driver_trip_reads_and_writes_what_core_does(
        sqlite_store: Store, clock: ManualClock) -> None:
    store = sqlite_store
    try:
        await _round_with_ballots(store, clock, 2)
        items = None
        async with store.transaction() as session:
            through_core = await in_one_trip(session, lambda c: standing.read_standing(
                CoreTrip(c), *_identity(0)))
            assert through_core is not None and through_core.round is not None
            items = await ballots.ballot_items(session, through_core.round)
        through_driver = await store.one_trip(
            lambda trip: standing.read_standing(trip, *_identity(0)))
        assert through_driver == through_core  # datetimes and all
        assert through_core.round.deadline is not None and through_core.given

        later = clock.now() + timedelta(minutes=5)
        driver_expert = through_driver
        core_expert = await store.one_trip(lambda t: standing.read_standing(t, *_identity(1)))
        assert driver_expert is not None and core_expert is not None
        assert driver_expert.ballot_id is not None and core_expert.ballot_id is not None
        await store.one_trip(lambda trip: ballots.write_rating(
            trip, driver_expert.ballot_id, items[1], 5, later))  # type: ignore[arg-type]
        async with store.transaction() as session:
            await in_one_trip(session, lambda c: ballots.write_rating(
                CoreTrip(c), core_expert.ballot_id, items[1], 5, later))  # type: ignore[arg-type]
            rows = (await session.execute(
                select(Rating.ballot_id, Rating.value, Rating.created_at, Rating.updated_at)
                .where(Rating.statement_version_id == items[1].version_id)
                .order_by(Rating.ballot_id))).all()
    finally:
        await store.dispose()
    assert [row[1:] for row in rows] == [(5, later, later), (5, later, later)]
    database = store.engine.url.database
    assert database is not None
    with sqlite3.connect(database) as raw:  # stored byte for byte alike, too
        stored = raw.execute("SELECT created_at, updated_at FROM ratings WHERE "
                             "statement_version_id = ?", (items[1].version_id,)).fetchall()
    assert len(stored) == 2 and stored[0] == stored[1]


async def test_a_driver_error_is_sqlalchemys_and_the_trip_writes_nothing(
        sqlite_store: Store, clock: ManualClock) -> None:
    store = sqlite_store
    try:
        await _round_with_ballots(store, clock, 1)
        async with store.transaction() as session:
            current = await rounds.open_round_or_none(session, "tiny")
            assert current is not None
            items = await ballots.ballot_items(session, current)

        def doomed(trip: CoreTrip) -> None:
            assert standing.first_arrival(trip, "telegram", "update-1", clock.now())
            ballots.write_rating(trip, 999_999, items[0], 4, clock.now())  # no such ballot

        with pytest.raises(IntegrityError):
            await store.one_trip(doomed)  # type: ignore[arg-type]
        async with store.transaction() as session:
            recorded = (await session.scalars(select(ProcessedUpdate.update_key))).all()
        again = await store.one_trip(
            lambda trip: standing.first_arrival(trip, "telegram", "update-1", clock.now()))
    finally:
        await store.dispose()
    assert recorded == [] and again  # rolled back: the update is new the next time


async def test_a_driver_trip_waits_for_another_process_write(
        sqlite_store: Store, clock: ManualClock) -> None:
    """A CLI command writing beside the bot holds SQLite's write lock for a moment: the
    trip waits for it on the event loop (which goes on serving) instead of failing."""
    store = sqlite_store
    database = store.engine.url.database
    assert database is not None
    other = sqlite3.connect(database, isolation_level=None)
    try:
        await store.one_trip(lambda trip: None)  # the store's connection exists
        other.execute("BEGIN IMMEDIATE")
        trip = asyncio.create_task(store.one_trip(
            lambda t: standing.first_arrival(t, "telegram", "waited", clock.now())))
        await asyncio.sleep(0.05)
        assert not trip.done()  # waiting, and the loop ran this test meanwhile
        other.execute("COMMIT")
        assert await asyncio.wait_for(trip, 10)
    finally:
        other.close()
        await store.dispose()


async def test_a_ballot_started_on_the_driver_is_the_row_core_starts(
        sqlite_store: Store, clock: ManualClock) -> None:
    """Columns left out of an INSERT get the defaults Core gives them (a ballot's
    revision), and RETURNING comes back as Core returns it."""
    store = sqlite_store
    try:
        spec = await loaded(store, clock.now())
        await enrol_panel(store, spec.study.id, 2, clock.now())
        async with store.transaction() as session:
            await rounds.open_round(session, spec.study.id, clock.now())
        first = await store.one_trip(lambda t: standing.read_standing(t, *_identity(0)))
        second = await store.one_trip(lambda t: standing.read_standing(t, *_identity(1)))
        assert first is not None and second is not None and first.round is not None
        round_ = first.round
        on_driver = await store.one_trip(
            lambda trip: ballots.start_ballot(trip, first, round_, clock.now()))
        async with store.transaction() as session:
            on_core = await in_one_trip(session, lambda c: ballots.start_ballot(
                CoreTrip(c), second, round_, clock.now()))
        again = await store.one_trip(  # started already: the same ballot, found
            lambda trip: ballots.start_ballot(trip, first, round_, clock.now()))
    finally:
        await store.dispose()
    assert on_driver != on_core and again == on_driver
    database = store.engine.url.database
    assert database is not None
    with sqlite3.connect(database) as raw:
        rows = raw.execute("SELECT id, round_id, started_at, submitted_at, revision FROM "
                           "ballots ORDER BY id").fetchall()
    assert [row[0] for row in rows] == sorted([on_driver, on_core])
    assert rows[0][1:] == rows[1][1:]
