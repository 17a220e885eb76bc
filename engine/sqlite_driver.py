"""SQLite for the asyncio engine, run on the event loop's own thread (``sqlite://``).

aiosqlite gives every connection a helper thread and hands it each call: three or four
hand-offs per statement (cursor, execute, fetch, close), each a queue put, a thread wake-up,
a GIL switch and a wake-up of the loop. A button press is about six statements, so the
hand-offs cost more than the SQL: measured in-process, 4.4 ms per press through
aiosqlite against 1.9 ms with the same statements run directly (``make bench`` has the
end-to-end numbers).

Running SQLite on the loop's thread is safe here because nothing in it waits long:
- the database is a local file and a statement takes microseconds;
- WAL with ``synchronous=NORMAL`` means a commit writes the log without an fsync;
- writers inside this process queue on the Store's asyncio lock, so a statement never
  waits for another of our transactions;
- the only wait left is another process's write (a ``delphi invite`` or ``participant
  erase`` run beside the bot), which lasts milliseconds: ``BEGIN IMMEDIATE`` waits for it
  asynchronously, retrying while the loop serves everyone else (:meth:`_Cursor._begin`),
  so a transaction takes the write lock with its first statement, in the same trip.

The dialect is SQLAlchemy's own pysqlite one (the standard library's ``sqlite3``),
declared usable by the asyncio extension: AsyncSession runs its sync work in a greenlet
and, with no awaitable driver call inside, that work simply completes. ``sqlite+aiosqlite``
URLs keep aiosqlite's threads for anyone who prefers them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.util.concurrency import await_, in_greenlet

DRIVER = "delphi_inloop"
BEGIN_WRITE = "BEGIN IMMEDIATE"
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
T = TypeVar("T")


async def _already_done() -> None:
    """An awaitable that completes at once (see ``_Cursor.execute``)."""


class _Cursor(sqlite3.Cursor):
    """A sqlite3 cursor that satisfies the asyncio extension's two checks on drivers."""

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        # AsyncConnection.execute insists that the driver awaited something (it guards
        # against sync drivers used by mistake); hand it an awaitable that completes at
        # once: a greenlet switch, no trip through the event loop.
        if not in_greenlet():
            return super().execute(sql, parameters)
        await_(_already_done())
        if sql == BEGIN_WRITE:
            return self._begin(sql)
        return super().execute(sql, parameters)

    def _begin(self, sql: str) -> Any:
        """Take SQLite's write lock, waiting asynchronously while another process holds
        it (sleeps on the event loop, which keeps serving everyone), for up to the
        connection's ``write_wait_s``."""
        wait = self.connection.write_wait_s if isinstance(self.connection,
                                                          InLoopConnection) else 0.0
        return await_(begin_write(lambda: sqlite3.Cursor.execute(self, sql), wait))

    async def _async_soft_close(self) -> None:
        """Called by SQLAlchemy's asyncio results on every driver cursor before the rows
        are read (an async driver closes its cursor early there, keeping the rows it has
        fetched). A sqlite3 cursor is read on this same thread, so there is nothing to do."""


async def begin_write(begin: Callable[[], T], wait_s: float) -> T:
    """Run ``begin`` (a BEGIN IMMEDIATE), retrying with asynchronous sleeps while another
    process holds SQLite's write lock, for up to ``wait_s``."""
    give_up = time.monotonic() + wait_s
    pause = 0.005
    while True:
        try:
            return begin()
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode not in _BUSY or time.monotonic() + pause > give_up:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.1)


class InLoopConnection(sqlite3.Connection):
    # How long BEGIN IMMEDIATE waits for another process's write lock (engine.db sets it).
    write_wait_s = 0.0

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


class InLoopSQLiteDialect(SQLiteDialect_pysqlite):
    """pysqlite, accepted by ``create_async_engine`` and pooled the asyncio way."""

    is_async = True
    supports_statement_cache = True

    def create_connect_args(self, url: URL) -> Any:
        args, options = super().create_connect_args(url)
        options["factory"] = InLoopConnection  # cursors that answer the asyncio extension
        return args, options

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        # The asyncio engine refuses sync pools; mirror the aiosqlite dialect's choice.
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool


registry.register(f"sqlite.{DRIVER}", __name__, "InLoopSQLiteDialect")


def resolve(url: str) -> str:
    """Map a plain ``sqlite://`` (or ``sqlite+pysqlite://``) URL to the in-loop dialect;
    leave every other URL, ``sqlite+aiosqlite`` included, as it is."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.get_driver_name() == "pysqlite":
        return parsed.set(drivername=f"sqlite+{DRIVER}").render_as_string(
            hide_password=False)
    return url
