"""Alembic's head must be exactly the ORM schema, on SQLite and PostgreSQL, and reversible."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from engine.models import Base
from engine.schema import downgrade, schema_state, upgrade
from tests.conftest import Backend


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_head_matches_the_models_and_downgrade_empties(backend: Backend) -> None:
    store = backend.store()
    try:
        assert not (await schema_state(store.engine)).up_to_date
        await upgrade(store.engine)
        state = await schema_state(store.engine)
        assert state.up_to_date and state.current == state.head
        async with store.engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
            tables = await connection.run_sync(_tables)
        assert set(Base.metadata.tables) <= tables
        await downgrade(store.engine, "base")
        async with store.engine.connect() as connection:
            assert await connection.run_sync(_tables) <= {"alembic_version"}
        assert (await schema_state(store.engine)).current is None
        await upgrade(store.engine)  # and back up again, cleanly
        assert (await schema_state(store.engine)).up_to_date
    finally:
        await store.dispose()
