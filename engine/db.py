"""Database engine and unit of work.

SQLite is the embedded default and must survive many experts pressing at once:
WAL (readers never block the writer), a busy timeout, foreign keys on, and
``BEGIN IMMEDIATE`` so a transaction takes the write lock up front instead of failing
when it upgrades from read to write. Inside one process, writers also queue on an
asyncio lock, which is fairer and faster than SQLite's sleeping busy handler.
PostgreSQL needs none of this and gets none of it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from engine.models import Base

SQLITE_BUSY_TIMEOUT_MS = 30_000


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


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` with the backend's safety settings applied."""
    if is_sqlite(url):
        _prepare_sqlite_file(url)
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Store:
    """Owns the engine; hands out short transactions (the unit of work)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        # Per-database memo for data that cannot change once written (an open round's
        # ballot); sessions reach it through ``session.info["memo"]``.
        self.memo: dict[Any, Any] = {}
        self._sessions = async_sessionmaker(engine, expire_on_commit=False,
                                            info={"memo": self.memo})
        self._write_lock: asyncio.Lock | None = None

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Store:
        return cls(make_engine(url, **kwargs))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commit on success, roll back on any exception."""
        if self.sqlite:
            if self._write_lock is None:
                self._write_lock = asyncio.Lock()
            async with self._write_lock, self._sessions() as session, session.begin():
                yield session
        else:
            async with self._sessions() as session, session.begin():
                yield session

    async def create_all(self) -> None:
        """Create the schema directly (tests); production uses `delphi db upgrade`."""
        async with self.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    async def dispose(self) -> None:
        await self.engine.dispose()


def upsert(
    session: AsyncSession,
    table: Any,
    values: dict[str, Any],
    conflict: Sequence[str],
    update: Sequence[str] = (),
) -> Any:
    """An INSERT .. ON CONFLICT statement for the session's backend.

    With ``update`` empty the conflict does nothing (get-or-create); otherwise the named
    columns take the new values. Idempotent input is built on this.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    if not update:
        return statement.on_conflict_do_nothing(index_elements=list(conflict))
    return statement.on_conflict_do_update(
        index_elements=list(conflict),
        set_={name: statement.excluded[name] for name in update},
    )
