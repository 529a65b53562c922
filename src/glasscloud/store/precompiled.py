"""Statements a reconnect storm runs once per user, executed on the driver's cursor.

SQLAlchemy Core builds an execution context, processes binds and wraps every row for each
statement it runs: ~45 µs per statement on SQLite, against ~4 µs for the same SQL on the
pysqlite cursor (bench: the takeover's two statements 90-100 µs -> 8.5 µs). A node taking
2,000 users over runs those statements 2,000 times in a few seconds, so they are compiled
once per dialect from the same SQLAlchemy constructs (the schema stays the one source of the
SQL) and run on the DBAPI cursor of the transaction SQLAlchemy opened (the same BEGIN and
COMMIT, the same connection).

Only for statements whose binds and columns need no type processing: plain text and
integers in, text, integers and booleans-as-integers out. A driver error becomes SQLAlchemy's
`DBAPIError`, as from `Connection.execute`, so the Store's error handling is the same.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


class Precompiled:
    """One statement, compiled once per dialect; `rows` runs it on an open transaction."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            done = self._statement.compile(dialect=dialect)
            names = tuple(done.positiontup or ())
            if not names and done.binds:
                raise TypeError(f"{dialect.name} does not compile to positional parameters")
            compiled = self._compiled[dialect.name] = (str(done), names)
        return compiled

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        """Every row the statement returns (tuples, by column position)."""
        sql, names = self._for(conn.dialect)
        values = tuple(params[name] for name in names)
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
