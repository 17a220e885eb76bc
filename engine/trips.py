"""One short write transaction's statements, run where they cost least.

A button press is the bot's hottest path, and through SQLAlchemy's session each press
cost about 330 us of CPU in SQLAlchemy's own machinery (session, connection, execution
context, result objects) against about 40 us for the same BEGIN, three statements and
COMMIT run on the ``sqlite3`` driver directly (measured in-process on 2026-12-07). A
:class:`Trip` is the little a press's transaction needs (rows, a row count), so the same
engine code runs on either route:

- :class:`CoreTrip`: a SQLAlchemy Core connection (PostgreSQL, aiosqlite, SQLite in
  memory, and every transaction that also uses the ORM);
- :class:`DriverTrip`: a ``sqlite3`` connection of the Store's own, with each statement
  compiled once by SQLAlchemy for the SQLite dialect and its values converted by the
  column types' own bind and result processors, so the rows written and read are the
  ones Core would write and read (tests/engine/test_trips.py compares them).

Only Core statements with named bind parameters are prepared; nothing here builds SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Row = Sequence[Any]
_Processor = Callable[[Any], Any] | None


class Trip(Protocol):
    """The statements of one open transaction, run in one go."""

    dialect_name: str  # "sqlite" or "postgresql": which upsert to build

    def rows(self, statement: Executable, parameters: Mapping[str, Any]) -> list[Row]:
        """Run a statement that returns rows; all of them."""

    def count(self, statement: Executable, parameters: Mapping[str, Any]) -> int:
        """Run a statement that writes; the number of rows it wrote."""


class CoreTrip:
    """A :class:`Trip` on a SQLAlchemy Core connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect_name = connection.dialect.name

    def rows(self, statement: Executable, parameters: Mapping[str, Any]) -> list[Row]:
        return list(self.connection.execute(statement, dict(parameters)).all())

    def count(self, statement: Executable, parameters: Mapping[str, Any]) -> int:
        return int(self.connection.execute(statement, dict(parameters)).rowcount)


@dataclass(frozen=True)
class _Prepared:
    """A statement compiled for SQLite, with what turns values into the driver's and
    back: per positional parameter its name, a constant (a literal compiled into a bind)
    and the type's bind processor; per result column the type's result processor."""

    sql: str
    names: tuple[str, ...]
    constants: Mapping[str, Any]
    binds: tuple[_Processor, ...]
    results: tuple[_Processor, ...]

    def values(self, parameters: Mapping[str, Any]) -> tuple[Any, ...]:
        given = [parameters[name] if name in parameters else self.constants[name]
                 for name in self.names]
        return tuple(value if process is None or value is None else process(value)
                     for value, process in zip(given, self.binds, strict=True))

    def row(self, raw: Row) -> tuple[Any, ...]:
        return tuple(value if process is None or value is None else process(value)
                     for value, process in zip(raw, self.results, strict=True))


def _prepare(statement: Executable, dialect: Dialect) -> _Prepared:
    if not isinstance(statement, ClauseElement):
        raise TypeError(f"not a Core statement: {statement!r}")
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler) and compiled.positional
    names = tuple(compiled.positiontup or ())
    binds = {name: compiled.binds[name] for name in names}
    constants = {name: bind.value for name, bind in binds.items()
                 if not bind.required and bind.callable is None}
    constants.update(_column_defaults(compiled))
    columns = getattr(statement, "exported_columns", None) or ()  # selected or returned
    return _Prepared(
        sql=compiled.string, names=names, constants=constants,
        binds=tuple(binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                    for name in names),
        results=tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                      for column in columns))


def _column_defaults(compiled: SQLCompiler) -> dict[str, Any]:
    """The values Core would fill in for columns left out of a write: their defaults
    (only constants: a default computed per row has no place in a driver trip)."""
    found = {}
    for columns, which in ((compiled.insert_prefetch, "default"),
                           (compiled.update_prefetch, "onupdate")):
        for column in columns:
            default = getattr(column, which)
            if default is None or not default.is_scalar:
                raise TypeError(f"{column} needs a value computed for each row")
            found[column.key] = default.arg
    return found


class DriverTrip:
    """A :class:`Trip` on a ``sqlite3`` connection. Statements are prepared once per
    dialect (the caller keeps ``prepared``, usually for the life of the Store). A
    driver error is raised as SQLAlchemy's own (``IntegrityError``, ``OperationalError``
    ...), so callers handle one family of errors whichever route ran."""

    def __init__(self, connection: sqlite3.Connection, dialect: Dialect,
                 prepared: dict[Executable, _Prepared],
                 trace: Callable[[str], None] | None = None) -> None:
        self.connection, self.dialect, self.prepared = connection, dialect, prepared
        self.dialect_name = dialect.name
        self.trace = trace  # told each statement's SQL before it runs

    def _run(self, statement: Executable, parameters: Mapping[str, Any]
             ) -> tuple[_Prepared, sqlite3.Cursor]:
        prepared = self.prepared.get(statement)
        if prepared is None:
            prepared = self.prepared[statement] = _prepare(statement, self.dialect)
        values = prepared.values(parameters)
        try:
            if self.trace is not None:
                self.trace(prepared.sql)
            return prepared, self.connection.execute(prepared.sql, values)
        except sqlite3.Error as error:
            raise as_sqlalchemy_error(error, prepared.sql, values) from error

    def rows(self, statement: Executable, parameters: Mapping[str, Any]) -> list[Row]:
        prepared, cursor = self._run(statement, parameters)
        return [prepared.row(raw) for raw in cursor.fetchall()]

    def count(self, statement: Executable, parameters: Mapping[str, Any]) -> int:
        return int(self._run(statement, parameters)[1].rowcount)


def as_sqlalchemy_error(error: sqlite3.Error, sql: str, values: Any) -> StatementError:
    """The SQLAlchemy exception Core would have raised for this driver error."""
    return DBAPIError.instance(sql, values, error, sqlite3.Error)
