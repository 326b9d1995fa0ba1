"""storage.db.read_only: read-only work shares the pool, never queues for SQLite's write
lock, and a write through it is refused on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_sessionmaker, read_only
from storage.models import LoginFailure

pytestmark = pytest.mark.storage

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_a_write_through_a_read_only_session_is_refused(engine: AsyncEngine) -> None:
    async with create_sessionmaker(read_only(engine))() as session:
        session.add(LoginFailure(username="u", ip="1.2.3.4", occurred_at=T0))
        with pytest.raises((InvalidRequestError, DBAPIError)):
            await session.commit()
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(LoginFailure)) == 0


async def test_a_reader_does_not_wait_for_an_open_write_transaction(engine: AsyncEngine) -> None:
    writer = create_sessionmaker(engine)
    reader = create_sessionmaker(read_only(engine))
    async with writer() as busy:
        busy.add(LoginFailure(username="u", ip="1.2.3.4", occurred_at=T0))
        await busy.flush()  # the write transaction is open (SQLite: holds the write lock)

        async def read() -> int:
            async with reader() as session:
                return int(await session.scalar(select(func.count()).select_from(LoginFailure)))

        # A writing session here would wait up to busy_timeout (30 s) on SQLite.
        assert await asyncio.wait_for(read(), timeout=10) == 0  # the committed state
        await busy.commit()
    assert await read() == 1
