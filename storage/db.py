"""Engine and session factories. The caller owns the session: open one per update/request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.sqlite_driver import one_trip_dbapi


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, echo=echo)
    return create_async_engine(url, echo=echo, pool_size=pool_size, pool_pre_ping=True)


def _create_sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # No pool-level ROLLBACK on check-in: the Session/Connection always ends its own
    # transaction, and each extra statement is a thread round trip in aiosqlite.
    engine = create_async_engine(
        url,
        echo=echo,
        connect_args={"timeout": 30},
        pool_reset_on_return=None,
        module=one_trip_dbapi(),
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Zero freed space: erased personal data must not linger in free pages/cells.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        # SQLAlchemy skips the pool's ROLLBACK when it ended the transaction itself, but a
        # COMMIT that failed can leave SQLite's open, holding the write lock for everyone.
        if state.asyncio_safe and record.driver_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that later
        # writes can fail at once with SQLITE_BUSY instead of waiting its turn.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def is_postgres(engine_or_session: AsyncEngine | AsyncSession) -> bool:
    bind = (
        engine_or_session.bind if isinstance(engine_or_session, AsyncSession) else engine_or_session
    )
    return bind.dialect.name == "postgresql"
