"""Wait until a database statement is blocked on a lock another transaction holds.

Replaces "sleep, then assert the task is still waiting": the test knows the statement is
inside the database, waiting, before it checks.
- PostgreSQL: a backend of this database waits on a lock (pg_stat_activity).
- SQLite: a BEGIN IMMEDIATE (every transaction starts with one, see storage.db) has been
  sent and not returned; with the write lock held elsewhere it waits in busy_timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import is_postgres

DEADLINE = 10.0
_PG_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


class LockWaits:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._in_flight: set[int] = set()
        self._sent = asyncio.Event()

    def _before(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.strip().upper() == "BEGIN IMMEDIATE":
            self._in_flight.add(id(cursor))
            self._sent.set()

    def _after(self, conn: Any, cursor: Any, *_: Any) -> None:
        self._in_flight.discard(id(cursor))
        if not self._in_flight:
            self._sent.clear()

    def _error(self, context: Any) -> None:
        self._after(context.connection, context.cursor)

    async def blocked(self) -> None:
        """Return once a statement waits on a lock; fail after DEADLINE seconds."""
        async with asyncio.timeout(DEADLINE):
            if not is_postgres(self.engine):
                await self._sent.wait()
                return
            while True:
                async with self.engine.connect() as conn:
                    if await conn.scalar(_PG_WAITING):
                        return
                await asyncio.sleep(0.02)


@asynccontextmanager
async def lock_waits(engine: AsyncEngine) -> AsyncIterator[LockWaits]:
    waits = LockWaits(engine)
    hooks = {"before_cursor_execute": waits._before, "after_cursor_execute": waits._after}
    hooks["handle_error"] = waits._error
    for name, fn in hooks.items():
        event.listen(engine.sync_engine, name, fn)
    try:
        yield waits
    finally:
        for name, fn in hooks.items():
            event.remove(engine.sync_engine, name, fn)
