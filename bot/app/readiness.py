"""Whether the database is ready for the code: checked by every command that uses it.

Its own module because both the command line and ``delphi run`` ask it, and the command line
starts ``delphi run``: neither imports the other for it.
"""

from __future__ import annotations

from bot.app.failures import CommandError
from engine.db import Store
from engine.schema import schema_state


async def require_current_schema(store: Store, config_path: str) -> None:
    """Refuse to work on a database whose schema is behind the code (or ahead of it)."""
    state = await schema_state(store.engine)
    if not state.up_to_date:
        found = state.current or "empty"
        raise CommandError(
            f"the database schema is out of date ({found}, this version needs {state.head}); "
            f"run `delphi db upgrade --config {config_path}` first")
