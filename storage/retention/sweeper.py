"""The sweeper: runs every retention rule in batches and keeps a summary row per run.

Each batch is one transaction (the rule's function deletes, the sweeper commits), so a
sweeper killed at any point loses at most one uncommitted batch; objects are deleted before
their rows, so a re-run finishes what a killed one started. Two sweepers at once:
PostgreSQL rows are picked with FOR UPDATE SKIP LOCKED (each takes different rows);
SQLite has one writer anyway and a lease row makes a second sweeper step aside.

Liveness: the lease and the run row carry the holder's host, pid and a heartbeat it renews
every `heartbeat` while it runs. A holder whose heartbeat is older than STALE_BEATS beats,
or whose process is gone from this host, is dead: its lease is taken over at once and its
run marked interrupted (on both databases). A sweeper that steps aside names the holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.clock import Clock
from storage.db import is_postgres
from storage.models import RetentionLease, RetentionRun
from storage.objectstore.base import ObjectStore
from storage.retention.jobs import Job
from storage.retention.pending import GRACE, PendingReport, settle_pending
from storage.retention.rules import Rule
from storage.services.audit import Actor
from storage.services.recording_port import RecordingRetention, StoreSettled
from storage.services.unfiled import FiledNotice

log = logging.getLogger(__name__)
LEASE = "retention-sweep"
MAX_LISTED_FAILURES = 20
INTERRUPTED = "interrupted"
# PostgreSQL sweepers run side by side, so a "running" run is only taken for dead when it
# is older than any real sweep takes (a batch commits every few seconds).
STALE_AFTER = timedelta(hours=6)
HEARTBEAT = timedelta(seconds=5)
# A heartbeat this many beats old is a dead holder's (a live one may miss a beat or two
# waiting for SQLite's write lock).
STALE_BEATS = 3


@dataclass(frozen=True)
class Holder:
    """Who holds the lease (or runs a run): enough to find the process."""

    host: str | None
    pid: int | None
    since: datetime | None

    def describe(self) -> str:
        since = self.since.isoformat() if self.since else "unknown"
        return f"host {self.host or 'unknown'}, pid {self.pid or 'unknown'}, since {since}"


class LeaseLost(Exception):
    """Another sweeper took the lease over (this one's heartbeat went stale)."""


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


@dataclass
class RuleReport:
    deleted: int = 0
    kept_held: int = 0
    failed: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    deleted_by: dict[str, int] = field(default_factory=dict)  # why they went (jobs.CLOSED, …)
    kept: dict[str, int] = field(default_factory=dict)  # due, kept back not by a hold, by why

    def as_json(self) -> dict[str, Any]:
        return {
            "deleted": self.deleted,
            "deleted_by": dict(self.deleted_by),
            "kept_held": self.kept_held,
            "kept": dict(self.kept),
            "failed": len(self.failed) + (1 if self.error else 0),
            "failed_items": self.failed[:MAX_LISTED_FAILURES],
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class SweepResult:
    as_of: datetime
    dry_run: bool
    run_id: int | None = None
    rules: dict[str, RuleReport] = field(default_factory=dict)
    skipped: str | None = None  # why this sweeper did not run
    holder: Holder | None = None  # skipped: who holds the lease
    pending: PendingReport | None = None  # object writes settled first
    store: StoreSettled | None = None  # recordings' legal holds and decided deletes, next

    @property
    def failed(self) -> int:
        pending = len(self.pending.failed) if self.pending else 0
        pending += len(self.store.failed) if self.store else 0
        return pending + sum(len(r.failed) + (1 if r.error else 0) for r in self.rules.values())


class Sweeper:
    """`recordings`: the vault the recordings rule deletes through (its hold check
    included); the composition root passes recordings.service.RecordingService.
    `filed_notice`: the bot's text for a held message the held_messages rule files on a
    ticket (bot.texts.FiledNoticeText); without it those messages are kept, not deleted."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: ObjectStore,
        clock: Clock,
        rules: tuple[Rule, ...],
        *,
        recordings: RecordingRetention,
        batch: int = 500,
        lease_ttl: timedelta = timedelta(minutes=10),
        stale_after: timedelta = STALE_AFTER,
        heartbeat: timedelta = HEARTBEAT,
        pending_grace: timedelta = GRACE,
        filed_notice: FiledNotice | None = None,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.clock = clock
        self.rules = rules
        self.batch = batch
        self.recordings = recordings
        self.lease_ttl = lease_ttl
        self.stale_after = stale_after
        self.heartbeat = heartbeat
        self.pending_grace = pending_grace
        self.filed_notice = filed_notice
        self.holder = uuid.uuid4().hex
        self.host = socket.gethostname()[:255]
        self.pid = os.getpid()
        self._lost = False

    async def run(
        self,
        *,
        now: datetime | None = None,
        dry_run: bool = False,
        trigger: str = "cli",
        actor: Actor | None = None,
    ) -> SweepResult:
        """Sweep every rule as of `now` (default the clock's now)."""
        as_of = now or self.clock.now()
        result = SweepResult(as_of=as_of, dry_run=dry_run)
        async with self.sessions() as probe:
            use_lease = not is_postgres(probe)
        if use_lease:
            holder = await self._take_lease()
            if holder is not None:
                result.skipped = "another sweeper holds the lease"
                result.holder = holder
                return result
        beat: asyncio.Task[None] | None = None
        try:
            await self._close_dead_runs(use_lease)
            result.run_id = await self._start(as_of, dry_run, trigger)
            beat = asyncio.create_task(self._beat(result.run_id, use_lease))
            result.pending = await settle_pending(
                self.sessions,
                self.store,
                self.clock.now(),
                grace=self.pending_grace,
                dry_run=dry_run,
            )
            result.store = await self.recordings.settle_store(self.sessions, dry_run=dry_run)
            for rule in self.rules:
                started = time.perf_counter()
                report = await self._sweep_rule(rule, as_of, dry_run, actor, use_lease)
                report.seconds = time.perf_counter() - started
                result.rules[rule.key] = report
                if report.deleted or report.failed or report.error:
                    await self._save(result, done=False)  # progress visible if killed
            await self._save(result, done=True)
        except BaseException as exc:
            if result.run_id is not None:
                await self._save(result, done=True, error=type(exc).__name__)
            raise
        finally:
            if beat is not None:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
            if use_lease:
                await self._drop_lease()
        return result

    async def _sweep_rule(
        self, rule: Rule, as_of: datetime, dry_run: bool, actor: Actor | None, use_lease: bool
    ) -> RuleReport:
        report = RuleReport()
        skip: set[Any] = set()
        first = True
        while True:
            async with self.sessions() as session:
                job = Job(
                    rule=rule.key,
                    session=session,
                    store=self.store,
                    recordings=self.recordings,
                    actor=actor or Actor.system("retention-sweeper"),
                    now=as_of,
                    cutoff=rule.cutoff(as_of),
                    limit=self.batch,
                    dry_run=dry_run,
                    first=first,
                    skip_locked=not use_lease,
                    skip=skip,
                    filed_notice=self.filed_notice,
                )
                try:
                    outcome = await rule.sweep(job)
                    if not dry_run:
                        await session.commit()
                except Exception as exc:
                    await session.rollback()
                    report.error = type(exc).__name__
                    log.warning("retention rule %s failed: %s", rule.key, type(exc).__name__)
                    return report
            report.deleted += outcome.deleted
            report.kept_held += outcome.kept_held
            for reason, n in outcome.deleted_by.items():
                report.deleted_by[reason] = report.deleted_by.get(reason, 0) + n
            for reason, n in outcome.kept.items():
                report.kept[reason] = report.kept.get(reason, 0) + n
            report.failed.extend(str(key) for key in outcome.failed)
            skip.update(outcome.failed)
            first = False
            if dry_run or not outcome.more:
                return report
            if self._lost:
                raise LeaseLost("another sweeper took the lease over; it continues")

    # --- the run row ------------------------------------------------------------------

    def _alive(self, host: str | None, pid: int | None, heartbeat_at: datetime | None) -> bool:
        """Whether the sweeper that last beat at `heartbeat_at` may still be running."""
        if heartbeat_at is None:  # a row from before heartbeats: judged by its age elsewhere
            return False
        if heartbeat_at < self.clock.now() - self.heartbeat * STALE_BEATS:
            return False
        return not (host == self.host and pid is not None and not process_exists(pid))

    async def _close_dead_runs(self, use_lease: bool) -> None:
        """A sweeper killed outright (SIGKILL, power loss) never ends its run row: a row
        still "running" whose sweeper is dead (heartbeat stale, or its process gone from
        this host) is marked interrupted. Holding the SQLite lease means no other sweeper
        runs, so there every "running" row is dead; a row without a heartbeat (from before
        heartbeats) is dead once older than `stale_after`. Their batches were committed (or
        rolled back) one by one: this sweep simply continues the work."""
        async with self.sessions() as session:
            running = (
                await session.execute(
                    select(
                        RetentionRun.id,
                        RetentionRun.host,
                        RetentionRun.pid,
                        RetentionRun.heartbeat_at,
                        RetentionRun.started_at,
                    ).where(RetentionRun.status == "running")
                )
            ).all()
            dead = [
                row.id
                for row in running
                if use_lease
                or (
                    not self._alive(row.host, row.pid, row.heartbeat_at)
                    and (
                        row.heartbeat_at is not None
                        or row.started_at <= self.clock.now() - self.stale_after
                    )
                )
            ]
            if dead:
                await session.execute(
                    update(RetentionRun)
                    .where(RetentionRun.id.in_(dead), RetentionRun.status == "running")
                    .values(
                        status=INTERRUPTED,
                        error="stopped without finishing (killed?); a later sweep continued",
                    )
                )
            await session.commit()

    async def _start(self, as_of: datetime, dry_run: bool, trigger: str) -> int:
        async with self.sessions() as session:
            run = RetentionRun(
                started_at=self.clock.now(),
                as_of=as_of,
                dry_run=dry_run,
                trigger=trigger,
                status="running",
                summary={},
                host=self.host,
                pid=self.pid,
                heartbeat_at=self.clock.now(),
            )
            session.add(run)
            await session.commit()
            return run.id

    async def _save(self, result: SweepResult, *, done: bool, error: str | None = None) -> None:
        values: dict[str, Any] = {
            "summary": {key: report.as_json() for key, report in result.rules.items()}
        }
        if done:
            values["finished_at"] = self.clock.now()
            values["status"] = "failed" if error or result.failed else "done"
            values["error"] = error
        async with self.sessions() as session:
            await session.execute(
                update(RetentionRun).where(RetentionRun.id == result.run_id).values(**values)
            )
            await session.commit()

    # --- the heartbeat -------------------------------------------------------------------

    async def _beat(self, run_id: int, use_lease: bool) -> None:
        """Renew the run's (and the lease's) heartbeat until cancelled. A lease found in
        another's hands means this sweeper was taken for dead: it stops after its batch."""
        while True:
            await asyncio.sleep(self.heartbeat.total_seconds())
            try:
                await self._renew(run_id, use_lease)
            except Exception as exc:  # e.g. SQLite's lock busy past its timeout: next beat
                log.warning("sweeper heartbeat missed: %s", type(exc).__name__)

    async def _renew(self, run_id: int, use_lease: bool) -> None:
        now = self.clock.now()
        async with self.sessions() as session:
            await session.execute(
                update(RetentionRun).where(RetentionRun.id == run_id).values(heartbeat_at=now)
            )
            if use_lease:
                renewed = await session.execute(
                    update(RetentionLease)
                    .where(RetentionLease.name == LEASE, RetentionLease.holder == self.holder)
                    .values(heartbeat_at=now, expires_at=now + self.lease_ttl)
                )
                if renewed.rowcount == 0:  # type: ignore[attr-defined]
                    self._lost = True
            await session.commit()

    # --- the SQLite lease ---------------------------------------------------------------

    async def _take_lease(self) -> Holder | None:
        """Take the lease (None), or name the live sweeper that holds it."""
        now = self.clock.now()
        async with self.sessions() as session:
            lease = await session.get(RetentionLease, LEASE)
            if lease is None:
                lease = RetentionLease(name=LEASE)
                session.add(lease)
            elif lease.holder != self.holder and self._alive(
                lease.host, lease.pid, lease.heartbeat_at
            ):
                return Holder(lease.host, lease.pid, lease.since)
            lease.holder = self.holder
            lease.host = self.host
            lease.pid = self.pid
            lease.since = now
            lease.heartbeat_at = now
            lease.expires_at = now + self.lease_ttl
            try:
                await session.commit()
            except IntegrityError:  # another sweeper inserted it first: name it
                pass
            else:
                return None
        async with self.sessions() as session:
            lease = await session.get(RetentionLease, LEASE)
            if lease is None:
                return Holder(None, None, None)
            return Holder(lease.host, lease.pid, lease.since)

    async def _drop_lease(self) -> None:
        async with self.sessions() as session:
            lease = await session.get(RetentionLease, LEASE)
            if lease is not None and lease.holder == self.holder:
                await session.delete(lease)
                await session.commit()
