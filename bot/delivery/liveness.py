"""Which outbox workers are alive, as PostgreSQL sees them: session advisory locks.

A dispatcher on PostgreSQL takes a session-level advisory lock on a connection of its
own and keeps it for as long as it runs; the lock's key is part of its worker id
(``dispatcher-L<8 hex digits>``), which it writes into ``outbox.claimed_by``. The server
drops the lock the moment that session ends, and a killed process's socket closes at
once, so "can I take X's lock?" answers "is X dead?" without waiting out X's leases.
Whoever asks lets go again immediately.

The lock proves a worker alive only while its session lasts, so a worker also pings its
own connection and stops sending under an id whose session it can no longer vouch for
(``Dispatcher`` does that); the others give such a worker a grace period before they take
its rows. Ids of any other shape (older releases, SQLite, a dispatcher used without
``start()``) are never judged dead here: their leases simply expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.locks import ping, release_worker_lock, try_worker_lock

PREFIX = "dispatcher-L"
_ID = re.compile(r"^dispatcher-L([0-9a-f]{8})$")
CLOSE_TIMEOUT_SECONDS = 2.0


def worker_id(key: int) -> str:
    return f"{PREFIX}{key:08x}"


def lock_key(worker: str) -> int | None:
    """The advisory lock key a worker id stands for; None for ids that hold no lock."""
    match = _ID.match(worker)
    return int(match.group(1), 16) if match else None


class WorkerLock:
    """This worker's advisory lock on its own (autocommit) connection.

    One connection, used by one coroutine at a time: the keep-alive ping and the
    "is that worker dead?" question share it under a mutex.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.worker: str | None = None  # the id while the lock is held
        self._key: int | None = None
        self._connection: AsyncConnection | None = None
        self._mutex = asyncio.Lock()

    async def acquire(self) -> str:
        """Open a connection, take a fresh random key, and return the id that names it."""
        async with self._mutex:
            await self._drop()
            connection = await self.engine.connect()
            try:
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                for _ in range(8):  # a key another live worker holds: draw again
                    key = secrets.randbelow(2**31 - 1) + 1
                    if await try_worker_lock(connection, key):
                        self._connection, self._key, self.worker = connection, key, worker_id(key)
                        return self.worker
            except BaseException:
                await _close(connection)
                raise
            await _close(connection)
            raise RuntimeError("no free advisory lock key after 8 draws")

    async def ping(self, within: float) -> bool:
        """Is our session (and so our lock) still there? On any doubt, give it up: a
        worker that cannot vouch for its lock must not go on sending under its id."""
        async with self._mutex:
            if self._connection is None:
                return False
            try:
                await asyncio.wait_for(ping(self._connection), within)
            except Exception:
                await self._drop()
                return False
            return True

    async def is_dead(self, worker: str) -> bool:
        """True when ``worker`` holds a lock-shaped id and its lock is free (its session
        ended). False when it is alive, when its id holds no lock, or when we cannot ask."""
        key = lock_key(worker)
        if key is None or worker == self.worker:
            return False
        async with self._mutex:
            if self._connection is None:
                return False
            try:
                taken = await try_worker_lock(self._connection, key)
                if taken:
                    await release_worker_lock(self._connection, key)
            except Exception:
                await self._drop()
                return False
            return taken

    async def release(self) -> None:
        """Give the lock back and close the connection (a clean stop)."""
        async with self._mutex:
            if self._connection is not None and self._key is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(release_worker_lock(self._connection, self._key),
                                           CLOSE_TIMEOUT_SECONDS)
            await self._drop()

    async def _drop(self) -> None:
        connection, self._connection, self._key, self.worker = self._connection, None, None, None
        if connection is not None:
            await _close(connection, invalidate=True)


async def _close(connection: AsyncConnection, invalidate: bool = False) -> None:
    """Close without waiting on a server that may be gone; an invalidated connection is
    not returned to the pool."""
    with contextlib.suppress(Exception):
        if invalidate:
            await asyncio.wait_for(connection.invalidate(), CLOSE_TIMEOUT_SECONDS)
        await asyncio.wait_for(connection.close(), CLOSE_TIMEOUT_SECONDS)
