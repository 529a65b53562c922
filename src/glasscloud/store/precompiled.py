"""Statements a reconnect storm runs once per user, executed on the driver's cursor.

SQLAlchemy Core builds an execution context, processes binds and wraps every row for each
statement it runs: ~45 µs per statement on SQLite, against ~4 µs for the same SQL on the
pysqlite cursor (bench: the takeover's two statements 90-100 µs -> 8.5 µs). A node taking
2,000 users over runs those statements 2,000 times in a few seconds, so they are compiled
once per dialect from the same SQLAlchemy constructs (the schema stays the one source of the
SQL) and run on the DBAPI cursor of the transaction SQLAlchemy opened (the same BEGIN and
COMMIT, the same connection).

Binds go through their type's bind processor for the dialect, as SQLAlchemy's own
execution does (a datetime becomes SQLite's stored text, a bool 0/1), and literal values in
the statement are bound as compiled. Rows are the driver's, without result processing: only
for columns read as text, integers or booleans (SQLite's 0/1 is truthy as `True` is). A
driver error becomes SQLAlchemy's `DBAPIError`, as from `Connection.execute`, so the Store's
error handling is the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

# A positional parameter: its bind's name, the type's processor, its literal value (if the
# statement carries one rather than naming a bind the caller passes).
_Param = tuple[str, Callable[[Any], Any] | None, bool, Any]


class Precompiled:
    """One statement, compiled once per dialect; `rows` runs it on an open transaction.
    `by_dialect` gives a statement of its own to a dialect (an INSERT ... ON CONFLICT is
    built from that dialect's `insert`)."""

    def __init__(
        self, statement: ClauseElement, by_dialect: dict[str, ClauseElement] | None = None
    ) -> None:
        self._statements = {None: statement, **(by_dialect or {})}
        self._compiled: dict[str, tuple[str, tuple[_Param, ...]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, tuple[_Param, ...]]:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            statement = self._statements.get(dialect.name, self._statements[None])
            done = statement.compile(dialect=dialect)
            names = tuple(done.positiontup or ())
            if not names and done.binds:
                raise TypeError(f"{dialect.name} does not compile to positional parameters")
            params = []
            for name in names:
                bind = done.binds[name]
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                params.append((name, processor, not bind.required, bind.value))
            compiled = self._compiled[dialect.name] = (str(done), tuple(params))
        return compiled

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        """Every row the statement returns (tuples, by column position)."""
        sql, wanted = self._for(conn.dialect)
        values = tuple(
            (value if literal else params[name])
            if processor is None
            else processor(value if literal else params[name])
            for name, processor, literal, value in wanted
        )
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, values)
            return list(cursor.fetchall()) if cursor.description is not None else []
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                sql, values, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
            ) from exc
        finally:
            cursor.close()
