"""Erased means gone from the database files: after an erasure commits, the pages that still
hold the erased values are cleaned, off the request path, by one worker the composition
root owns (admin/app.py, admin/cli/runtime.py) and injects as a `DiskCleanupQueue`.

- SQLite: freed pages are zeroed at the commit (secure_delete, storage/db.py); the WAL still
  holds the erased texts until a TRUNCATE checkpoint copies and empties it.
- PostgreSQL: an UPDATE or DELETE leaves the old row version in its page; VACUUM frees the
  space but leaves the bytes (also VACUUM (FREEZE); both checked with pg_read_binary_file).
  VACUUM (FULL) writes the table, its TOAST table and its indexes into new files and
  truncates the old ones. It holds an ACCESS EXCLUSIVE lock on that table while it copies
  it: only the tables the erasure changed are rewritten, one at a time, giving up on a lock
  after a second (and retrying) rather than queueing the desk behind a long transaction.

The erasure's session is tracked (`track_erasure`) from its start: before every commit of
it, also the ones the recording vault makes partway through, the tables that transaction
changed are written into `disk_cleanups` in that same transaction, so the work survives a
restart; after the commit the worker is woken. The worker rewrites them (waiting until no
older snapshot can still read the old versions) and deletes the rows; what it could not
finish stays for its next pass (the next erasure, its periodic pass, or the next start).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, event, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from storage.models import DiskCleanup

log = logging.getLogger(__name__)

WAL = "*"  # SQLite: the row asking for a WAL checkpoint
TRACKING = "disk_cleanup_tracking"  # key in Session.info

# A reader holding an old snapshot blocks the TRUNCATE checkpoint (SQLite) or keeps the old
# row versions alive (PostgreSQL): a pass retries with backoff, bounded (about three
# minutes in all); what is left waits for the next pass.
CLEANUP_ATTEMPTS = 10
CLEANUP_FIRST_DELAY = 0.05
CLEANUP_MAX_DELAY = 30.0
PASS_INTERVAL = 3600.0  # seconds between passes when nothing wakes the worker
STOP_GRACE = 10.0  # seconds a pass in progress may take to finish at shutdown


class DiskCleanupQueue(Protocol):
    """What an erasure needs of the worker: a nudge once its rows have committed."""

    def wake(self) -> None: ...


# --- the erasure's side: which tables ----------------------------------------------------

CHANGED_TABLES = text(
    "SELECT relname FROM pg_stat_xact_user_tables"
    " WHERE schemaname = current_schema() AND n_tup_upd + n_tup_del > 0 ORDER BY relname"
)
CURRENT_XID = text("SELECT pg_current_xact_id()::text")


@dataclass
class _Tracking:
    queue: DiskCleanupQueue | None
    last: bool = False
    active: bool = True  # listeners stay on the session; they go quiet after the last commit

    def before_commit(self, session: Session) -> None:
        if not self.active:
            return
        session.flush()
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            tables = list(session.scalars(CHANGED_TABLES))
            xid = int(session.scalar(CURRENT_XID) or 0)
        else:
            tables, xid = [WAL], 0
        if tables:
            session.execute(insert(DiskCleanup), [{"table_name": t, "xid": xid} for t in tables])

    def after_commit(self, session: Session) -> None:
        if not self.active:
            return
        if self.queue is not None:
            self.queue.wake()
        if self.last:
            self.active = False
            session.info.pop(TRACKING, None)


def track_erasure(session: AsyncSession, queue: DiskCleanupQueue | None) -> None:
    """From now on, every commit of this session records the tables it changed for the
    worker (and wakes it), until the commit after `last_commit`. Without a queue the rows
    wait for the worker's next pass."""
    sync_session = session.sync_session
    if TRACKING in sync_session.info:
        return
    tracking = _Tracking(queue)
    sync_session.info[TRACKING] = tracking
    event.listen(sync_session, "before_commit", tracking.before_commit)
    event.listen(sync_session, "after_commit", tracking.after_commit)


def last_commit(session: AsyncSession) -> None:
    """The erasure is done: its next commit is the last one tracked."""
    tracking = session.sync_session.info.get(TRACKING)
    if tracking is not None:
        tracking.last = True


# --- SQLite: the WAL ---------------------------------------------------------------------


def _checkpoint_on(raw: Any) -> bool:
    """One TRUNCATE checkpoint on a DBAPI connection outside any transaction; True when
    the WAL was copied and emptied."""
    cursor = raw.cursor()
    cursor.execute("PRAGMA busy_timeout=1000")
    try:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy = cursor.fetchone()[0]
    finally:
        cursor.execute("PRAGMA busy_timeout=30000")  # as storage.db sets it
        cursor.close()
    return not busy


async def _with_backoff(
    attempt: Callable[[], Awaitable[bool]], what: str, *, attempts: int, first_delay: float
) -> bool:
    """Run `attempt` until it returns True, sleeping twice as long each time (bounded)."""
    delay = first_delay
    for number in range(attempts):
        if await attempt():
            if number:
                log.info("%s after erasure done after %d retries", what, number)
            return True
        await asyncio.sleep(delay)
        delay = min(delay * 2, CLEANUP_MAX_DELAY)
    log.error("%s after erasure still blocked after %d attempts", what, attempts)
    return False


async def checkpoint_wal(
    engine: AsyncEngine,
    *,
    attempts: int = CLEANUP_ATTEMPTS,
    first_delay: float = CLEANUP_FIRST_DELAY,
) -> bool:
    """SQLite: TRUNCATE checkpoint, retried with backoff until no reader blocks it."""

    async def attempt() -> bool:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda c: _checkpoint_on(c.connection))

    return await _with_backoff(
        attempt, "WAL checkpoint", attempts=attempts, first_delay=first_delay
    )


# --- PostgreSQL: old row versions --------------------------------------------------------

# VACUUM (FULL) copies the old versions that some transaction may still see into the new
# file, so it waits until none can: no transaction in this database that began before
# the erasure committed holds a snapshot, and no transaction anywhere in the cluster is
# older than the erasure (VACUUM's own snapshot would count it, whatever its database).
HELD_BACK = text(
    "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL AND xact_start < :since)"
    " OR pg_snapshot_xmin(pg_current_snapshot())::text::bigint <= :xid"
)
# A rewrite gives the table a new file: how a table skipped with a mere warning shows.
FILENODE = text("SELECT pg_relation_filenode(CAST(:table AS regclass))")
# Waiting for a table's lock queues every later reader of it behind the rewrite: give up
# soon and retry rather than stall the desk behind a long transaction.
REWRITE_LOCK_TIMEOUT = "1s"


@dataclass
class Rewrite:
    tables: list[str]
    xid: int = 0  # the newest erasure transaction asking for these tables
    since: datetime | None = None  # the database clock when the pass began


def _rewrite_on(connection: Connection, rewrite: Rewrite) -> bool:
    """One attempt on an AUTOCOMMIT connection: VACUUM (FULL) each table not yet done,
    unless a transaction may still see the old versions. True when all are done."""
    if rewrite.since is None:
        rewrite.since = connection.execute(text("SELECT clock_timestamp()")).scalar_one()
    if connection.execute(HELD_BACK, {"since": rewrite.since, "xid": rewrite.xid}).scalar_one():
        return False
    quote = connection.dialect.identifier_preparer.quote
    connection.exec_driver_sql(f"SET lock_timeout = '{REWRITE_LOCK_TIMEOUT}'")
    try:
        for table in list(rewrite.tables):
            before = connection.execute(FILENODE, {"table": table}).scalar_one()
            try:
                connection.exec_driver_sql(f"VACUUM (FULL) {quote(table)}")
            except DBAPIError as exc:  # lock timeout: the next attempt takes it
                log.info("rewrite of %s after erasure postponed: %s", table, exc.orig)
                continue
            if connection.execute(FILENODE, {"table": table}).scalar_one() == before:
                # Skipped with only a warning: a role that does not own the table.
                log.warning("rewrite of %s after erasure skipped by PostgreSQL", table)
                continue
            rewrite.tables.remove(table)
    finally:
        connection.exec_driver_sql("RESET lock_timeout")
    return not rewrite.tables


async def rewrite_tables(
    engine: AsyncEngine,
    rewrite: Rewrite,
    *,
    attempts: int = CLEANUP_ATTEMPTS,
    first_delay: float = CLEANUP_FIRST_DELAY,
) -> bool:
    """PostgreSQL: VACUUM (FULL) the tables, retried with backoff while an older
    transaction or a lock holds them back. True when all were rewritten."""

    async def attempt() -> bool:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await connection.run_sync(_rewrite_on, rewrite)

    return await _with_backoff(attempt, "table rewrite", attempts=attempts, first_delay=first_delay)


# --- the worker ----------------------------------------------------------------------------


class DiskCleanupWorker:
    """Works through `disk_cleanups` in the background: at start, when woken after an
    erasure's commit, and every `interval` seconds. Created, started and stopped by the
    composition root."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        attempts: int = CLEANUP_ATTEMPTS,
        first_delay: float = CLEANUP_FIRST_DELAY,
        interval: float = PASS_INTERVAL,
    ) -> None:
        self.engine = engine
        self.attempts = attempts
        self.first_delay = first_delay
        self.interval = interval
        self._wake = asyncio.Event()
        self._finished = asyncio.Condition()
        self._requested = 0  # passes asked for (wakes)
        self._completed = 0  # the wakes the last finished pass covered
        self._succeeded = True
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._requested += 1
        self._wake.set()

    def start(self, *, first_pass: bool = True) -> None:
        """`first_pass`: work through what a previous run left right away (a server; a
        short command leaves that to the server and its own erasures wake it)."""
        if first_pass:
            self.wake()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait_done(self) -> bool:
        """Wait for a pass that began after every wake so far; True when it left nothing."""
        target = self._requested
        async with self._finished:
            await self._finished.wait_for(lambda: self._completed >= target)
            return self._succeeded

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Let the pass asked for finish (up to `grace` seconds), then log what is left
        for the next start."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.wait_done(), grace)
        except TimeoutError:
            pass
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        try:
            left = await self.pending_tables()
        except Exception:
            log.exception("could not read the disk cleanups left at shutdown")
            return
        if left:
            log.warning("disk cleanup after erasure left for the next start: %s", ", ".join(left))

    async def pending_tables(self) -> list[str]:
        async with self.engine.connect() as connection:
            rows = await connection.scalars(select(DiskCleanup.table_name).distinct())
            return sorted(rows)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
            self._wake.clear()
            target = self._requested
            try:
                succeeded = await self.run_pass()
            except Exception:
                log.exception("disk cleanup after erasure failed: retried at the next pass")
                succeeded = False
            async with self._finished:
                self._completed, self._succeeded = target, succeeded
                self._finished.notify_all()

    async def run_pass(self) -> bool:
        """Clean what the rows ask for; delete the rows of what is done. True when none
        is left."""
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(DiskCleanup.id, DiskCleanup.table_name, DiskCleanup.xid)
                )
            ).all()
        if not rows:
            return True
        upto = max(r.id for r in rows)
        tables = sorted({r.table_name for r in rows})
        if self.engine.dialect.name == "postgresql":
            rewrite = Rewrite(list(tables), xid=max(r.xid for r in rows))
            succeeded = await rewrite_tables(
                self.engine, rewrite, attempts=self.attempts, first_delay=self.first_delay
            )
            done = [t for t in tables if t not in rewrite.tables]
        else:
            succeeded = await self._checkpoint()
            done = tables if succeeded else []
        if done:
            async with self.engine.begin() as connection:
                await connection.execute(
                    delete(DiskCleanup).where(
                        DiskCleanup.id <= upto, DiskCleanup.table_name.in_(done)
                    )
                )
            if self.engine.dialect.name == "sqlite":
                await self._checkpoint()  # leave the WAL empty after that delete too
        return succeeded

    async def _checkpoint(self) -> bool:
        return await checkpoint_wal(
            self.engine, attempts=self.attempts, first_delay=self.first_delay
        )
