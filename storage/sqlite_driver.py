"""SQLite through aiosqlite with one thread round trip per statement.

SQLAlchemy's aiosqlite adapter makes four trips to the connection's thread per statement
(create cursor, execute, fetch, close cursor), each a queue put, a thread wake-up and a
loop wake-up. Here one function runs all four on that thread and hands back the rows and
cursor attributes, so a statement costs one trip, and a transaction's BEGIN travels with its
first statement (bench/bot_throughput.py counts statements).
Everything else - the thread, transactions, errors, server-side cursors - is aiosqlite's
and SQLAlchemy's own; `storage.db.create_engine` passes it as the DBAPI module for
`sqlite+aiosqlite` URLs.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

_NOTHING: tuple[Any, ...] = ()


def _run(
    conn: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """On the connection's thread: the transaction's BEGIN if still due, then the whole
    statement, its cursor closed before returning."""
    if begin is not None:
        conn.execute(begin)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement runs in a single trip; no aiosqlite cursor kept."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        pass  # nothing is open on the thread

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._trip(operation, _NOTHING if parameters is None else parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._trip(operation, seq_of_parameters, True)

    async def _trip(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt = self._adapt_connection
        if not many and not parameters and operation.startswith("BEGIN"):
            adapt.begin_due = operation  # rides along with the next statement's trip
            return
        connection = self._connection
        async with adapt._execute_mutex:
            begin, adapt.begin_due = adapt.begin_due, None
            description, rows, rowcount, lastrowid = await connection._execute(
                _run, connection._conn, begin, operation, parameters, many
            )
        self._description = description
        self._rows = collections.deque(rows)
        self._rowcount = rowcount
        self._lastrowid = lastrowid

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """A BEGIN is sent with the transaction's first statement, not in a trip of its own;
    a transaction that never ran a statement ends without any trip."""

    __slots__ = ("begin_due",)
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.begin_due: str | None = None

    def commit(self) -> None:
        if self.begin_due is not None:
            self.begin_due = None  # nothing began, so nothing to commit
            return
        super().commit()

    def rollback(self) -> None:
        if self.begin_due is not None:
            self.begin_due = None
            return
        super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy does: never block exit
        return OneTripConnection(self, await_(connection))


def one_trip_dbapi() -> OneTripDBAPI:
    """The DBAPI module for create_async_engine(module=...): aiosqlite, one trip each."""
    import aiosqlite

    return OneTripDBAPI(aiosqlite, sqlite3)
