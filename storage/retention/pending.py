"""Object-store writes recorded before they happen (`pending_objects`), and their settling.

A writer records the key and commits before it calls the store, and removes the record in
the transaction that adds the row naming the key. A write that failed, or was given up at
its deadline and landed afterwards (a stalled endpoint resumed), leaves the record: once
it is older than the grace period, the versions of a key that no row names are deleted and
the record goes. The sweep does this first thing; `supportdesk reconcile --fix` too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import PendingObject, Recording
from storage.objectstore.base import ObjectStore, ObjectStoreError

log = logging.getLogger(__name__)
# Longer than any write may still be under way (each call has a deadline of seconds).
GRACE = timedelta(hours=1)


@dataclass
class PendingReport:
    completed: list[str] = field(default_factory=list)  # a row names it: the write finished
    removed: list[str] = field(default_factory=list)  # no row: its versions were deleted
    failed: list[str] = field(default_factory=list)  # the store refused or did not answer
    waiting: int = 0  # younger than the grace period (still being written, perhaps)

    def lines(self) -> list[str]:
        return [
            f"pending writes: {len(self.completed)} completed, {len(self.removed)} orphaned "
            f"(objects deleted), {len(self.failed)} failed, {self.waiting} waiting"
        ] + [f"  pending key kept (store failed): {key}" for key in self.failed]


def record_pending(session: AsyncSession, key: str, now: datetime) -> None:
    """Add the record; the caller commits it before the object is written."""
    session.add(PendingObject(key=key, created_at=now))


async def clear_pending(session: AsyncSession, key: str) -> None:
    """Remove the record in the transaction that adds the row naming the key."""
    await session.execute(delete(PendingObject).where(PendingObject.key == key))


async def settle_pending(
    sessions: async_sessionmaker[AsyncSession],
    store: ObjectStore,
    now: datetime,
    *,
    grace: timedelta = GRACE,
    limit: int = 1000,
    dry_run: bool = False,
) -> PendingReport:
    """Settle records older than `grace`. The store is called with no transaction open."""
    report = PendingReport()
    async with sessions() as session:
        keys = list(
            await session.scalars(
                select(PendingObject.key)
                .where(PendingObject.created_at <= now - grace)
                .order_by(PendingObject.created_at, PendingObject.key)
                .limit(limit)
            )
        )
        report.waiting = (
            await session.scalar(
                select(func.count())
                .select_from(PendingObject)
                .where(PendingObject.created_at > now - grace)
            )
            or 0
        )
        named = set(
            await session.scalars(
                select(Recording.object_key).where(Recording.object_key.in_(keys))
            )
        )
        await session.rollback()  # no transaction stays open across the store's calls
    if dry_run:
        report.waiting += len(keys)
        return report
    for key in keys:
        if key in named:
            report.completed.append(key)
        else:
            try:
                await store.delete(key)
            except ObjectStoreError as exc:
                log.warning("pending key %s not settled: %s", key, type(exc).__name__)
                report.failed.append(key)
                continue
            report.removed.append(key)
        async with sessions() as session:
            await clear_pending(session, key)
            await session.commit()
    return report
