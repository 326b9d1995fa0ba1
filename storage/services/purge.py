"""Deleting support information and contact persons: one path for manual deletes, erasure
and the retention sweeper.

Objects go first, then rows: a crash in between leaves rows whose objects are already gone,
and a re-run (or `supportdesk reconcile --fix`) finishes the job because deleting an absent
object is fine. Audit events about a deleted subject are stripped of personal data (the
event itself, who/what/when, stays). Services flush, never commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, event, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from storage.models import Attachment, AuditEvent, ContactPerson, Ticket
from storage.objectstore.base import ObjectStore, ObjectStoreError
from storage.services import audit
from storage.services.audit import Actor

log = logging.getLogger(__name__)

STRIPPED = {"stripped": "subject deleted"}
# SQLite FTS5 trigram tables of migrations 0012 and 0014 (external content: the texts live
# in their tables, the index holds trigrams and row ids).
SEARCH_INDEXES = ("ticket_search", "ticket_message_search", "contact_search", "contact_form_search")


@dataclass
class PurgeResult:
    deleted: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


async def strip_audit(
    session: AsyncSession, subject_type: str, ids: Sequence[int], *, as_customer: bool = False
) -> None:
    """Blank the details of events about these subjects; with `as_customer` also the label
    of events these contact persons caused themselves."""
    keys = [str(i) for i in ids]
    if not keys:
        return
    await session.execute(
        update(AuditEvent)
        .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id.in_(keys))
        .values(details=STRIPPED)
        .execution_options(synchronize_session=False)
    )
    if as_customer:
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.actor_type == "customer", AuditEvent.actor_id.in_(keys))
            .values(actor_label="")
            .execution_options(synchronize_session=False)
        )


async def delete_tickets(
    session: AsyncSession,
    store: ObjectStore,
    ticket_ids: Sequence[int],
    *,
    actor: Actor,
    at: datetime,
    reason: str,
) -> PurgeResult:
    """Delete tickets with their messages and attachments (objects first, then rows)."""
    result = PurgeResult()
    if not ticket_ids:
        return result
    rows = await session.execute(
        select(Attachment.ticket_id, Attachment.object_key, Attachment.version_id).where(
            Attachment.ticket_id.in_(ticket_ids)
        )
    )
    for ticket_id, key, version_id in rows:
        if ticket_id in result.failed:
            continue
        try:
            await store.delete(key, version_id=version_id)
        except ObjectStoreError as exc:
            result.failed[ticket_id] = f"attachment object not deleted: {type(exc).__name__}"
    ids = [i for i in ticket_ids if i not in result.failed]
    if not ids:
        return result
    references = dict(
        (await session.execute(select(Ticket.id, Ticket.reference).where(Ticket.id.in_(ids)))).all()
    )
    ids = [i for i in ids if i in references]
    await strip_audit(session, "ticket", ids)
    # Messages and attachments follow by ON DELETE CASCADE.
    await session.execute(
        delete(Ticket).where(Ticket.id.in_(ids)).execution_options(synchronize_session=False)
    )
    await audit.record_many(
        session,
        actor=actor,
        action="ticket.delete",
        subject_type="ticket",
        at=at,
        details_by_subject={i: {"reference": references[i], "reason": reason} for i in ids},
    )
    result.deleted = ids
    return result


async def delete_contacts(
    session: AsyncSession,
    contact_ids: Sequence[int],
    *,
    actor: Actor,
    at: datetime,
    reason: str,
) -> PurgeResult:
    """Delete contact persons; their tickets stay (support information has its own period)
    with the link set to NULL by the foreign key."""
    result = PurgeResult()
    if not contact_ids:
        return result
    ids = list(
        await session.scalars(select(ContactPerson.id).where(ContactPerson.id.in_(contact_ids)))
    )
    if not ids:
        return result
    await strip_audit(session, "contact", ids, as_customer=True)
    await session.execute(
        delete(ContactPerson)
        .where(ContactPerson.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    await audit.record_many(
        session,
        actor=actor,
        action="contact.delete",
        subject_type="contact",
        at=at,
        details_by_subject={i: {"reason": reason} for i in ids},
    )
    result.deleted = ids
    return result


async def compact_search_index(session: AsyncSession) -> None:
    """SQLite: rewrite each FTS5 index as one segment, so that the entries of deleted or
    replaced texts leave the index now instead of lingering behind delete markers until
    some later merge (secure_delete then zeroes the freed pages). Rewrites whole indexes:
    meant for erasure requests, which are rare. PostgreSQL's indexes are rebuilt by the
    rewrite after the commit (rewrite_changed_tables_after_commit)."""
    await session.flush()  # the FTS triggers run with the pending deletes/updates
    if session.get_bind().dialect.name != "sqlite":
        return
    for table in SEARCH_INDEXES:
        await session.execute(text(f"INSERT INTO {table}({table}) VALUES ('optimize')"))


# A reader holding an old snapshot blocks the TRUNCATE checkpoint (SQLite) or keeps the old
# row versions alive (PostgreSQL): retried with backoff, bounded (about three minutes in
# all), then left to SQLite's own checkpoints or to the operator (logged).
CLEANUP_ATTEMPTS = 10
CLEANUP_FIRST_DELAY = 0.05
CLEANUP_MAX_DELAY = 30.0
_cleanups: set[asyncio.Task[bool]] = set()  # retries in flight, referenced until done


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


def _retry_in_background(cleanup: Coroutine[Any, Any, bool]) -> None:
    task = asyncio.get_running_loop().create_task(cleanup)
    _cleanups.add(task)
    task.add_done_callback(_cleanups.discard)


async def wait_for_disk_cleanups() -> list[bool]:
    """Wait for the WAL checkpoints and table rewrites still retrying (tests, shutdown)."""
    return list(await asyncio.gather(*_cleanups))


# --- SQLite: the WAL ---------------------------------------------------------------------


def _checkpoint_now(engine: Engine) -> bool:
    """One TRUNCATE checkpoint on a pooled connection outside any transaction; True when
    the WAL was copied and emptied. Runs in the caller's greenlet (driver calls awaited)."""
    raw = engine.raw_connection()
    try:
        return _checkpoint_on(raw)
    finally:
        raw.close()


def _checkpoint_on(raw: Any) -> bool:
    cursor = raw.cursor()
    cursor.execute("PRAGMA busy_timeout=1000")  # don't hold the request long
    try:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        busy = cursor.fetchone()[0]
    finally:
        cursor.execute("PRAGMA busy_timeout=30000")  # as storage.db sets it
        cursor.close()
    return not busy


async def checkpoint_wal(
    engine: AsyncEngine,
    *,
    attempts: int = CLEANUP_ATTEMPTS,
    first_delay: float = CLEANUP_FIRST_DELAY,
) -> bool:
    """SQLite: TRUNCATE checkpoint, retried with exponential backoff until no reader
    blocks it (bounded by `attempts`). True on success."""

    async def attempt() -> bool:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda c: _checkpoint_on(c.connection))

    return await _with_backoff(
        attempt, "WAL checkpoint", attempts=attempts, first_delay=first_delay
    )


def checkpoint_wal_after_commit(session: AsyncSession) -> None:
    """SQLite: once this session's transaction has committed, copy the WAL into the
    database file and truncate it, so that the erased texts (still in the WAL's frames
    until a checkpoint) leave the disk now. A checkpoint cannot run inside the
    transaction, hence the hook. A reader can block it: then it is retried in the
    background with backoff (checkpoint_wal) until it succeeds."""
    engine = session.bind
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "sqlite":
        return

    def _checkpoint(_session: Session) -> None:
        try:
            if _checkpoint_now(engine.sync_engine):
                return
            log.warning("WAL checkpoint after erasure was blocked by a reader: retrying")
        except Exception:
            log.exception("WAL checkpoint after erasure failed: retrying")
        _retry_in_background(checkpoint_wal(engine))

    event.listen(session.sync_session, "after_commit", _checkpoint, once=True)


# --- PostgreSQL: old row versions --------------------------------------------------------

# An UPDATE or DELETE leaves the old row version (a dead tuple) in its page; VACUUM marks
# its space free but leaves the bytes there until some later row overwrites them, and
# VACUUM (FREEZE) too (both checked with pg_read_binary_file). VACUUM (FULL) writes the
# table, its TOAST table and its indexes into new files and truncates the old ones at
# commit. It holds an ACCESS EXCLUSIVE lock on one table at a time while it copies it.
CHANGED_TABLES = text(
    "SELECT relname FROM pg_stat_xact_user_tables"
    " WHERE schemaname = current_schema() AND n_tup_upd + n_tup_del > 0 ORDER BY relname"
)
CURRENT_XID = text("SELECT pg_current_xact_id()::text")
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
    xid: int = 0  # the erasure's transaction
    since: datetime | None = None  # the database clock just after the erasure's commit


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
    """PostgreSQL: VACUUM (FULL) the tables, retried with exponential backoff while an
    older transaction or a lock holds them back (bounded by `attempts`). True on success."""

    async def attempt() -> bool:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await connection.run_sync(_rewrite_on, rewrite)

    return await _with_backoff(attempt, "table rewrite", attempts=attempts, first_delay=first_delay)


def rewrite_changed_tables_after_commit(session: AsyncSession) -> None:
    """PostgreSQL: once this session's transaction has committed, rewrite every table in
    which it updated or deleted rows (cascades included, as the statistics count them),
    so that no page keeps the old versions of the erased rows. VACUUM cannot run inside
    a transaction, hence the hooks. Postponed tables are retried in the background."""
    engine = session.bind
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "postgresql":
        return
    rewrite = Rewrite([])

    def _collect(sync_session: Session) -> None:
        sync_session.flush()
        rewrite.tables = list(sync_session.scalars(CHANGED_TABLES))
        rewrite.xid = int(sync_session.scalar(CURRENT_XID) or 0)

    def _rewrite(_session: Session) -> None:
        if not rewrite.tables:
            return
        try:
            with engine.sync_engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT")
                if _rewrite_on(connection, rewrite):
                    return
            log.warning("rewrite after erasure waits for older transactions or locks: retrying")
        except Exception:
            log.exception("rewrite after erasure failed: retrying")
        _retry_in_background(rewrite_tables(engine, rewrite))

    event.listen(session.sync_session, "before_commit", _collect, once=True)
    event.listen(session.sync_session, "after_commit", _rewrite, once=True)
