"""Database engine and unit of work.

SQLite is the embedded default and must survive many experts pressing at once:
WAL (readers never block the writer), foreign keys on, and ``BEGIN IMMEDIATE`` so a
transaction takes the write lock up front instead of failing when it upgrades from read
to write. Inside one process, writers queue on an asyncio lock, which is fairer and
faster than SQLite's sleeping busy handler. Another process's write (a CLI command run
beside the bot) is waited for asynchronously: SQLite's own busy wait is kept to a few
milliseconds, because on the in-loop driver (engine.sqlite_driver) it would stop the
whole bot. PostgreSQL needs none of this and gets none of it.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import FromClause, Insert, Result, bindparam, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from engine import sqlite_driver
from engine.models import ROUND_NOT_OPEN_SQLSTATE, Base
from engine.trips import CoreTrip, DriverTrip, Trip, as_sqlalchemy_error

# How long a transaction may wait for another process's write before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# How long SQLite itself may block (on the in-loop driver: block the event loop) per try.
SQLITE_BLOCKING_WAIT_MS = 10


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite_file(url: str) -> None:
    """Create the database file readable only by its owner (it holds identities)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def _set_up_sqlite_connection(dbapi_connection: sqlite3.Connection) -> None:
    """The settings every SQLite connection of ours runs with."""
    # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BLOCKING_WAIT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _configure_sqlite(engine: AsyncEngine, begin: str = sqlite_driver.BEGIN_WRITE) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _set_up_sqlite_connection(dbapi_connection)
        if isinstance(dbapi_connection, sqlite_driver.InLoopConnection):
            dbapi_connection.write_wait_s = SQLITE_BUSY_TIMEOUT_MS / 1000

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


def make_engine(url: str, snapshot: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` with the backend's safety settings applied.

    A plain ``sqlite://`` URL runs SQLite on the event loop's thread (see
    engine.sqlite_driver); ``sqlite+aiosqlite://`` keeps aiosqlite's helper threads.
    With ``snapshot``, an engine for reading only: each transaction sees one snapshot of
    the database (a deferred BEGIN on SQLite, repeatable read on PostgreSQL) and takes no
    write lock, so writers go on meanwhile.
    """
    url = sqlite_driver.resolve(url)
    if is_sqlite(url):
        _prepare_sqlite_file(url)
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine, "BEGIN" if snapshot else "BEGIN IMMEDIATE")
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # The one-winner rule (engine.locks) relies on each statement after a lock wait seeing
    # what the lock's previous holder committed: read committed, whatever the server's
    # default.
    kwargs.setdefault("isolation_level", "REPEATABLE READ" if snapshot else "READ COMMITTED")
    return create_async_engine(url, **kwargs)


def _opens_twice(url: str) -> bool:
    """Whether a second connection to ``url`` sees the same database (not so for an
    in-memory SQLite database)."""
    if not is_sqlite(url):
        return True
    database = make_url(url).database
    return bool(database) and database != ":memory:" and "mode=memory" not in url


T = TypeVar("T")


class _CollectorPause:
    """Pauses Python's cyclic garbage collector while a large read runs apart.

    Reading a round's ratings allocates hundreds of thousands of rows and tuples; each
    burst of allocations sets off a collection of the whole heap, which holds the GIL
    for tens of milliseconds and so stalls the event loop's thread: measured, presses
    waited up to 250 ms while a 100,000-rating read ran in its thread, and none with the
    collector paused (the read took a fifth of the time, too). The rows hold no cycles,
    so nothing is left for the collector when it resumes. Reads may overlap; the
    collector resumes when the last ends, and only if it was running before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if self._readers == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._readers += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._readers -= 1
            if self._readers == 0 and self._resume:
                gc.enable()


_COLLECTOR_PAUSED = _CollectorPause()

# The share of the interpreter a read apart takes while the event loop serves presses,
# and the longest it rests in all (seconds).
READ_APART_SHARE = 0.3
READ_APART_MAX_REST_S = 2.0
_PACE = "pace"


class _Pace:
    """Keeps a read apart to ``share`` of the time: called between the pieces of its
    work, it sleeps (letting the GIL go) in proportion to the time since the last call.

    The reading thread and the event loop's thread share one GIL. A reader that never
    pauses takes it most of the time: whenever the loop's thread lets it go (every
    SQLite call does, a press makes about eight), it waits up to the interpreter's
    switch interval (5 ms) to get it back, so each press took several times longer
    and, with twenty experts pressing, the presses queued for the write lock faster
    than they were served: measured, presses waited 100-200 ms during a 100,000-rating
    read. Paced, the read takes longer and the presses keep their pace.

    It rests ``most`` seconds at most in all: on a machine so loaded that the read itself
    is slow, a close should still end within seconds (measured with two other processes
    burning both cores, an unbounded pace stretched a close to 5.5 s)."""

    def __init__(self, share: float, most: float) -> None:
        self._rest = (1 - share) / share
        self._left = most
        self._since = time.perf_counter()

    def __call__(self) -> None:
        pause = min((time.perf_counter() - self._since) * self._rest, self._left)
        if pause > 0:
            time.sleep(pause)
            self._left -= pause
        self._since = time.perf_counter()


def _at_once() -> None:
    """No pause: what :func:`pace` gives outside a read apart."""


def pace(session: AsyncSession) -> Callable[[], None]:
    """What a long read calls between the pieces of its work: in a read apart
    (:meth:`Store.read_apart`) a pause that keeps it to its share of the time, elsewhere
    nothing (a transaction on the event loop must not sleep)."""
    paused: Callable[[], None] = session.info.get(_PACE, _at_once)
    return paused


class Store:
    """Owns the engine; hands out short transactions (the unit of work), and reads
    apart from them (:meth:`read_apart`)."""

    def __init__(self, engine: AsyncEngine,
                 snapshots: Callable[[], AsyncEngine] | None = None) -> None:
        self.engine = engine
        self._snapshots = snapshots
        self.sqlite = engine.dialect.name == "sqlite"
        # The in-loop driver waits for another process's write lock itself, so a
        # transaction need not begin in a trip of its own (engine.sqlite_driver).
        self._begins_on_first_statement = isinstance(engine.dialect,
                                                     sqlite_driver.InLoopSQLiteDialect)
        # Per-database memo for data that cannot change once written (an open round's
        # ballot); sessions reach it through ``session.info["memo"]``.
        self.memo: dict[Any, Any] = {}
        self._sessions = async_sessionmaker(engine, expire_on_commit=False,
                                            info={"memo": self.memo})
        self._write_lock: asyncio.Lock | None = None
        self._trip_database = _driver_trip_database(engine)
        self._trip_connection: sqlite3.Connection | None = None
        self._prepared: dict[Any, Any] = {}  # statements compiled for driver trips
        self._trace: Callable[[str], None] | None = None

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Store:
        snapshots = (functools.partial(make_engine, url, snapshot=True, poolclass=NullPool,
                                       **kwargs) if _opens_twice(url) else None)
        return cls(make_engine(url, **kwargs), snapshots)

    async def read_apart(self, read: Callable[[AsyncSession], Awaitable[T]],
                         paced: bool = True) -> T | None:
        """Run ``read`` in one snapshot of the database, on a connection of its own, in a
        thread with its own event loop: for a slow read (a whole round's ratings) that
        must hold neither the write lock nor this event loop while it runs. None when
        the database cannot be opened a second time (SQLite in memory, or a store made
        from a bare engine): the caller then reads in its own transaction.

        ``paced``: ``read`` keeps to READ_APART_SHARE of the time where it calls
        :func:`pace`; unpaced, it runs as fast as it can (a short read whose snapshot
        should be as fresh as possible when it ends)."""
        if self._snapshots is None:
            return None
        return await asyncio.to_thread(self._read_in_thread, read, paced)

    def _read_in_thread(self, read: Callable[[AsyncSession], Awaitable[T]],
                        paced: bool) -> T:
        with _COLLECTOR_PAUSED:
            return asyncio.run(self._read_snapshot(read, paced))

    async def _read_snapshot(self, read: Callable[[AsyncSession], Awaitable[T]],
                             paced: bool) -> T:
        assert self._snapshots is not None
        engine = self._snapshots()
        info = {"memo": {}, _PACE: (_Pace(READ_APART_SHARE, READ_APART_MAX_REST_S) if paced
                                    else _at_once)}
        try:
            async with AsyncSession(engine, info=info) as session, session.begin():
                return await read(session)
        finally:
            await engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commit on success, roll back on any exception."""
        if not self.sqlite:
            async with self._sessions() as session, session.begin():
                yield session
            return
        async with self._writer():
            # Not ``async with session``: AsyncSession's exit closes in a shielded task,
            # one trip through the event loop with the write lock still held, and every
            # other press queued behind it waits for that trip too.
            # Ending takes one trip into SQLAlchemy's greenlet, not two: commit (or roll
            # back) and close together. This runs once per button press.
            session = self._sessions()
            try:
                if not self._begins_on_first_statement:
                    await _begin_immediate(session)
                yield session
            except BaseException:
                await session.run_sync(_end, commit=False)
                raise
            await session.run_sync(_end, commit=True)

    def _writer(self) -> asyncio.Lock:
        """The lock this process's SQLite writers queue on (made in the running loop)."""
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    async def one_trip(self, work: Callable[[Trip], T]) -> T:
        """A short write transaction run in one go: BEGIN, ``work``'s statements, COMMIT
        (ROLLBACK if ``work`` raises). ``work`` uses no ORM and awaits nothing. For the
        button press (engine.trips says why): on a SQLite file with the in-loop driver it
        runs on a connection of the Store's own, straight on the driver; on any other
        database in an ordinary transaction, on its Core connection."""
        if self._trip_database is None:
            async with self.transaction() as session:
                return await in_one_trip(session,
                                         lambda connection: work(CoreTrip(connection)))
        async with self._writer():
            trace = self._trace
            try:
                connection = self._trip_connection or self._open_trip_connection()
                if trace is not None:
                    trace(sqlite_driver.BEGIN_WRITE)
                await sqlite_driver.begin_write(
                    lambda: connection.execute(sqlite_driver.BEGIN_WRITE),
                    SQLITE_BUSY_TIMEOUT_MS / 1000)
            except sqlite3.Error as error:
                raise as_sqlalchemy_error(error, sqlite_driver.BEGIN_WRITE, ()) from error
            try:
                result = work(DriverTrip(connection, self.engine.dialect, self._prepared,
                                         trace))
                connection.commit()
            except sqlite3.Error as error:  # the commit's (a statement's is SQLAlchemy's)
                _roll_back(connection)
                raise as_sqlalchemy_error(error, "COMMIT", ()) from error
            except BaseException:
                _roll_back(connection)
                raise
            return result

    def _open_trip_connection(self) -> sqlite3.Connection:
        assert self._trip_database is not None
        connection = sqlite3.connect(self._trip_database, check_same_thread=False)
        _set_up_sqlite_connection(connection)
        self._trip_connection = connection
        return connection

    def trace_driver_trips(self, callback: Callable[[str], None] | None) -> None:
        """See each statement a driver trip sends, BEGIN included and the commit not, as
        SQLAlchemy's ``before_cursor_execute`` event sees a transaction's (it does not see
        a driver trip's: those go straight to the driver); None stops. For tests and
        debugging."""
        self._trace = callback

    async def create_all(self) -> None:
        """Create the schema directly (tests); production uses `delphi db upgrade`."""
        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    async def dispose(self) -> None:
        if self._trip_connection is not None:
            self._trip_connection.close()
            self._trip_connection = None
        await self.engine.dispose()


def _driver_trip_database(engine: AsyncEngine) -> str | None:
    """The SQLite file a Store runs driver trips on (engine.trips): only with the in-loop
    driver (aiosqlite's threads are kept for whoever chose them) and only for a database
    a second connection opens too (a file, not memory)."""
    url = engine.url
    if not isinstance(engine.dialect, sqlite_driver.InLoopSQLiteDialect):
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:") or url.query:
        return None
    return database


def _roll_back(connection: sqlite3.Connection) -> None:
    """End a failed driver trip; a failure to roll back changes nothing for the caller
    (SQLite rolls back what it could not commit), so the first error is the one raised."""
    with suppress(sqlite3.Error):
        connection.rollback()


def _end(session: Session, commit: bool) -> None:
    """Commit or roll back, then close, whatever the commit raised."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def _begin_immediate(session: AsyncSession) -> None:
    """Take SQLite's write lock through aiosqlite (the ``begin`` hook issues BEGIN
    IMMEDIATE), retrying with asynchronous sleeps while another process holds it, for up
    to SQLITE_BUSY_TIMEOUT_MS; the event loop keeps serving everyone meanwhile. (The
    in-loop driver waits the same way inside the first statement's own trip.)"""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            # run_sync, not session.connection(): the same BEGIN without wrapping the
            # connection in an AsyncConnection nobody uses (this runs on every press).
            await session.run_sync(Session.connection)
            return
        except OperationalError as error:
            busy = getattr(error.orig, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY,
                                                                     sqlite3.SQLITE_LOCKED)
            if not busy or loop.time() + pause > give_up:
                raise
        await session.rollback()
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.1)


def refused_for_a_closed_round(error: DBAPIError) -> bool:
    """Whether the database refused a rating because its round had closed meanwhile
    (PostgreSQL's trigger on ratings, see engine.models.ROUND_NOT_OPEN_SQLSTATE)."""
    return getattr(error.orig, "sqlstate", None) == ROUND_NOT_OPEN_SQLSTATE


async def upsert(
    session: AsyncSession,
    table: FromClause,
    values: dict[str, Any],
    conflict: Sequence[str],
    update: Sequence[str] = (),
    returning: Sequence[str] = (),
    where: str | None = None,
) -> Result[Any]:
    """Run an INSERT .. ON CONFLICT for the session's backend; return its result.

    With ``update`` empty the conflict does nothing (get-or-create); otherwise the named
    columns take the new values; ``returning`` names columns of the written row to return
    (no row when a conflict did nothing); ``where`` is the SQL condition of a partial
    unique index the conflict is on. Idempotent input is built on this. The statement
    is built once per shape and reused with the values as parameters: it is on every
    button press, and building it (with its ``excluded`` alias) cost more than running it.
    """
    statement = upsert_statement(session.get_bind().dialect.name, table,
                                 tuple(values), tuple(conflict), tuple(update),
                                 tuple(returning), where)
    return await in_one_trip(session, lambda connection: connection.execute(statement, values))


@functools.cache
def upsert_statement(dialect: str, table: FromClause, columns: tuple[str, ...],
                     conflict: tuple[str, ...], update: tuple[str, ...] = (),
                     returning: tuple[str, ...] = (), where: str | None = None) -> Insert:
    """The statement :func:`upsert` runs, for a dialect name and the columns to insert
    (their values are parameters of the same names)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(cast(Any, table)).values(
        {name: bindparam(name, type_=table.c[name].type) for name in columns})
    index_where = text(where) if where is not None else None
    if not update:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict),
                                                     index_where=index_where)
    else:
        statement = statement.on_conflict_do_update(
            index_elements=list(conflict), index_where=index_where,
            set_={name: statement.excluded[name] for name in update},
        )
    if returning:
        return statement.returning(*(table.c[name] for name in returning))
    return statement


async def in_one_trip(session: AsyncSession, work: Callable[[Connection], T]) -> T:
    """Run ``work`` on the transaction's connection in ONE trip into SQLAlchemy's greenlet.

    Every ``await session.execute`` is a trip of its own, and on a button press the trips
    and the ORM's execution layer cost more than SQLite does. ``work`` runs Core
    statements on the connection and reads their results before returning. The session
    flushes first, as its autoflush would, so a read sees what this transaction changed
    through the ORM.
    """

    def run(sync: Session) -> T:
        if sync.autoflush:
            sync.flush()
        return work(sync.connection())

    return await session.run_sync(run)
