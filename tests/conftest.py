"""Shared fixtures: every database test runs on SQLite, and on PostgreSQL too when
``DELPHI_TEST_DATABASE_URL`` points at a server (each test then gets its own schema)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine.clock import ManualClock
from engine.db import Store, make_engine

PG_URL = os.environ.get("DELPHI_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
EXAMPLES = Path(__file__).resolve().parent.parent / "engine" / "examples"


@dataclass
class Backend:
    """A database URL plus engine options that isolate one test."""

    name: str
    url: str
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def store(self) -> Store:
        return Store.from_url(self.url, **self.engine_kwargs)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'test.db'}")
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Backend("postgresql", PG_URL,
                      {"connect_args": {"server_settings": {"search_path": schema}}})
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    store = backend.store()
    await store.create_all()
    try:
        yield store
    finally:
        await store.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`delphi run` configures logging for the process; give every test a clean slate."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
