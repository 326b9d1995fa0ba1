"""Engine and session factories. The caller owns the session: open one per update/request.

Read-only work (admin GET pages, inbox scans) goes through `read_only(engine)`, which shares
the engine's pool: on SQLite its transactions begin deferred, so readers never queue for the
write lock; on PostgreSQL they are READ ONLY transactions. On both, a write through it fails
(READ_ONLY_OPTION below), so a read-only path that starts writing is found, not left to take
the lock by surprise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import String, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

READ_ONLY_OPTION = "supportdesk_read_only"


class unicode_lower(GenericFunction[str]):
    """lower() of every letter, not only ASCII ("Özil" -> "özil"): PostgreSQL's own lower()
    (which its lower(...) indexes use); on SQLite, whose lower() folds ASCII only, the
    Python function registered on each connection."""

    type = String()
    inherit_cache = True


@compiles(unicode_lower)
def _unicode_lower_default(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _unicode_lower_sqlite(element: unicode_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"unicode_lower({compiler.process(element.clauses, **kw)})"


def create_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _create_sqlite_engine(url, echo=echo)
    else:
        engine = create_async_engine(url, echo=echo, pool_size=pool_size, pool_pre_ping=True)
    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_writes_when_read_only)
    return engine


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for transactions that only read."""
    options: dict[str, Any] = {READ_ONLY_OPTION: True}
    if engine.dialect.name == "postgresql":
        options["postgresql_readonly"] = True
    return engine.execution_options(**options)


def _refuse_writes_when_read_only(
    conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
) -> None:
    if (
        context is not None
        and conn.get_execution_options().get(READ_ONLY_OPTION)
        and (context.isinsert or context.isupdate or context.isdelete)
    ):
        raise InvalidRequestError("a write through a read-only session")


def _create_sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN (see _on_begin): the documented
        # recipe for SQLite transactions under SQLAlchemy.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Zero freed space: erased personal data must not linger in free pages/cells.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
        dbapi_connection.create_function("translate", 3, _translate, deterministic=True)
        dbapi_connection.create_function("unicode_lower", 1, _lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            # Deferred: WAL readers see a snapshot and never wait for the write lock.
            conn.exec_driver_sql("BEGIN")
        else:
            # IMMEDIATE takes the write lock up front: a deferred transaction that later
            # writes can fail at once with SQLITE_BUSY instead of waiting its turn.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


def _translate(text: str | None, source: str, target: str) -> str | None:
    """PostgreSQL's translate() for SQLite, so that queries using it stay portable: each
    character of `source` becomes the one at its place in `target`, or goes when `target`
    is shorter."""
    if text is None:
        return None
    table = {ord(c): (target[i] if i < len(target) else None) for i, c in enumerate(source)}
    return text.translate(table)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def is_postgres(engine_or_session: AsyncEngine | AsyncSession) -> bool:
    bind = (
        engine_or_session.bind if isinstance(engine_or_session, AsyncSession) else engine_or_session
    )
    return bind.dialect.name == "postgresql"
