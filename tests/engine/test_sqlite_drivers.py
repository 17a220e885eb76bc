"""The two SQLite drivers: ``sqlite://`` runs statements on the event loop's thread,
``sqlite+aiosqlite://`` on aiosqlite's helper threads; both run a study the same way, and
another process holding the write lock never freezes the bot."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError

from engine import ballots, db, rounds
from engine.clock import ManualClock
from engine.db import Store
from engine.enrolment import create_invites
from engine.models import Invite, Rating
from engine.sqlite_driver import InLoopSQLiteDialect
from tests.engine.helpers import enrol_panel, loaded


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+aiosqlite"])
async def test_both_drivers_run_a_round(scheme: str, tmp_path: Path) -> None:
    clock = ManualClock()
    store = Store.from_url(f"{scheme}:///{tmp_path / 'study.db'}")
    in_loop = isinstance(store.engine.dialect, InLoopSQLiteDialect)
    assert in_loop == (scheme == "sqlite")
    threads: set[int] = set()
    if in_loop:
        @event.listens_for(store.engine.sync_engine, "connect")
        def _trace(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            # SQLite calls this on the thread that runs each statement.
            dbapi_connection.set_trace_callback(
                lambda _sql: threads.add(threading.get_ident()))

    try:
        await store.create_all()
        spec = await loaded(store, clock.now())
        experts = await enrol_panel(store, spec.study.id, 3, clock.now())
        async with store.transaction() as session:
            await rounds.open_round(session, spec.study.id, clock.now())
        for expert in experts:
            for code in (s.id for s in spec.statements):
                for _replay in range(2):  # the same rating twice leaves one row
                    async with store.transaction() as session:
                        await ballots.record_rating(session, expert, 1, code, 4, clock.now())
        async with store.transaction() as session:
            stored = await session.scalar(select(func.count()).select_from(Rating))
            closed = await rounds.close_round(session, spec.study.id, clock.now())
            closed_ratings = await rounds.round_ratings(session, closed.round)
    finally:
        await store.dispose()
    assert stored == len(experts) * len(spec.statements)
    assert len(closed_ratings) == stored
    if in_loop:
        assert threads == {threading.get_ident()}  # every statement ran on the loop's thread


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+aiosqlite"])
async def test_core_statements_and_connections_work_on_both_drivers(scheme: str,
                                                                      tmp_path: Path) -> None:
    """Not only the ORM: Core selects, text() and AsyncConnection.execute, which the
    asyncio extension checks more strictly (an awaited driver call, soft-closed cursors)."""
    store = Store.from_url(f"{scheme}:///{tmp_path / 'study.db'}")
    try:
        await store.create_all()
        async with store.transaction() as session:
            assert (await session.execute(text("SELECT 41 + 1"))).scalar() == 42
            assert (await session.execute(select(Rating.__table__))).all() == []
        async with store.engine.connect() as connection:
            assert (await connection.execute(text("SELECT 42"))).scalar_one() == 42
            assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await store.dispose()


@asynccontextmanager
async def write_lock_held_elsewhere(path: Path, seconds: float) -> AsyncIterator[None]:
    """Another process's writer, as `delphi invite` beside the bot would be: BEGIN
    IMMEDIATE, ``seconds`` of work, COMMIT (in a thread, so this test's loop stays free)."""
    held = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held.set()
        threading.Event().wait(seconds)
        other.execute("COMMIT")
        other.close()

    holding = asyncio.create_task(asyncio.to_thread(hold))
    await asyncio.to_thread(held.wait)
    try:
        yield
    finally:
        await holding


async def test_a_write_lock_held_elsewhere_is_waited_for_without_freezing_the_loop(
        tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "study.db"
    store = Store.from_url(f"sqlite:///{path}")
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    try:
        await store.create_all()
        spec = await loaded(store, clock.now())
        async with write_lock_held_elsewhere(path, seconds=1.0):
            ticking = asyncio.create_task(ticker())
            async with store.transaction() as session:  # waits for the other writer
                await create_invites(session, spec.study.id, 2, clock.now())
            stop.set()
            await ticking
        # Blocked for the whole second, the loop would have ticked once or twice; free, it
        # ticks every few milliseconds. 20 is far below the free rate on a busy machine.
        assert ticks >= 20
        async with store.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Invite)) == 2
    finally:
        await store.dispose()


async def test_a_write_lock_held_too_long_is_an_error_not_a_hang(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    clock = ManualClock()
    path = tmp_path / "study.db"
    store = Store.from_url(f"sqlite:///{path}")
    try:
        await store.create_all()
        await loaded(store, clock.now())
        async with write_lock_held_elsewhere(path, seconds=1.5):
            with pytest.raises(OperationalError, match="locked"):
                async with store.transaction() as session:  # the lock comes with a statement
                    await session.execute(text("SELECT 1"))
        async with store.transaction() as session:  # free again: works
            assert await session.scalar(select(func.count()).select_from(Rating)) == 0
    finally:
        await store.dispose()
