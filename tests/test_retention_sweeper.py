"""The sweeper under failure and concurrency, and reconcile: a sweeper killed between the
object delete and the row delete (fault injected at the object-store edge), two sweepers at
once (PostgreSQL: SKIP LOCKED; SQLite: the lease), orphans found and fixed."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from retention_helpers import SECOND, T0, closed_ticket, count, hold, recording, sweeper
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.archive import configure_lifecycle
from recordings.reconcile import reconcile
from storage.clock import FrozenClock
from storage.db import is_postgres
from storage.models import (
    Attachment,
    AuditEvent,
    Recording,
    RetentionLease,
    RetentionRun,
    Ticket,
)
from storage.objectstore import S3ObjectStore
from storage.retention.sweeper import HEARTBEAT, LEASE, STALE_BEATS

pytestmark = pytest.mark.storage
Sessions = async_sessionmaker[AsyncSession]
LATE = T0.replace(year=T0.year + 3) + SECOND  # three calendar years after closing


@pytest.fixture
async def store(s3_endpoint: str, s3_bucket: str) -> AsyncIterator[S3ObjectStore]:
    instance = S3ObjectStore(s3_endpoint, "test", "testtest", s3_bucket)
    await configure_lifecycle(instance)
    try:
        yield instance
    finally:
        await instance.close()


@pytest.fixture
async def any_store(s3_server: str, s3_bucket: str) -> AsyncIterator[S3ObjectStore]:
    """The store on moto and on SeaweedFS in turn (reconcile reads versions and holds,
    which real servers answer differently)."""
    instance = S3ObjectStore(s3_server, "test", "testtest", s3_bucket)
    await configure_lifecycle(instance)
    try:
        yield instance
    finally:
        await instance.close()


class DiesAfterDelete:
    """The object-store edge with a fault: the object is deleted, then the process 'dies'
    before the row delete commits."""

    def __init__(self, inner: S3ObjectStore, fault: BaseException) -> None:
        self.inner = inner
        self.fault = fault
        self.deleted: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def delete(self, key: str, *, version_id: str | None = None) -> None:
        await self.inner.delete(key, version_id=version_id)
        self.deleted.append(key)
        raise self.fault


async def _world(sessions: Sessions, store: S3ObjectStore, clock: FrozenClock) -> dict[str, Any]:
    async with sessions() as s:
        tickets = [await closed_ticket(s, store, clock) for _ in range(2)]
        free = [await recording(s, store, T0) for _ in range(2)]
        kept = await recording(s, store, T0)
        ids = {"tickets": tickets, "free": [r.id for r in free], "kept": kept.id}
        ids["kept_key"] = kept.object_key
        await s.commit()
    async with sessions() as s:
        await hold(s, store, clock, ids["kept"])
        await s.commit()
    return ids


async def _assert_finished(sessions: Sessions, store: S3ObjectStore, ids: dict[str, Any]) -> None:
    async with sessions() as s:
        assert await count(s, Ticket, Ticket.id.in_(ids["tickets"])) == 0
        assert await count(s, Attachment) == 0
        assert list(await s.scalars(select(Recording.id))) == [ids["kept"]]
        deletes = Counter(
            (
                await s.execute(
                    select(AuditEvent.action, AuditEvent.subject_id).where(
                        AuditEvent.action.in_(["ticket.delete", "recording.delete"])
                    )
                )
            ).all()
        )
    expected = [("ticket.delete", str(i)) for i in ids["tickets"]]
    expected += [("recording.delete", str(i)) for i in ids["free"]]
    assert sorted(deletes) == sorted(expected)
    assert set(deletes.values()) == {1}  # exactly once each
    assert await store.exists(ids["kept_key"]) and await store.is_legal_hold(ids["kept_key"])
    clock = FrozenClock(LATE + timedelta(hours=2))
    report = await reconcile(sessions, store, clock)
    assert report.clean, report.lines()


@pytest.mark.parametrize("fault", [asyncio.CancelledError(), RuntimeError("power cut")])
async def test_killed_between_object_and_row_delete_next_run_finishes(
    session_factory: Sessions, store: S3ObjectStore, fault: BaseException
) -> None:
    clock = FrozenClock(T0)
    ids = await _world(session_factory, store, clock)
    clock.set(LATE)
    dying = DiesAfterDelete(store, fault)
    killed = sweeper(session_factory, dying, clock)  # type: ignore[arg-type]
    if isinstance(fault, asyncio.CancelledError):
        with pytest.raises(asyncio.CancelledError):
            await killed.run()
    else:
        result = await killed.run()
        assert result.rules["support_information"].error == "RuntimeError"
        assert result.rules["recordings"].error == "RuntimeError"
    assert dying.deleted, "the fault never fired"

    # Half done: an object is gone, its row is still there; reconcile sees it.
    half = await reconcile(session_factory, store, clock)
    assert half.missing_objects and not half.orphan_objects
    async with session_factory() as s:
        run = await s.scalar(select(RetentionRun).order_by(RetentionRun.id.desc()))
    assert run is not None and run.status == "failed"

    result = await sweeper(session_factory, store, clock).run()
    assert result.failed == 0, result.rules
    await _assert_finished(session_factory, store, ids)


def _dead_pid() -> int:
    """The pid of a process of this host that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_a_run_killed_outright_is_marked_interrupted_by_the_next_sweep(
    session_factory: Sessions, store: S3ObjectStore
) -> None:
    """SIGKILL runs no cleanup: the run row stays "running" and (SQLite) the lease stays.
    The holder's process is gone from this host: the next sweep takes over at once (its
    heartbeat still fresh) and marks the run interrupted, on both databases."""
    clock = FrozenClock(T0)
    host, pid = socket.gethostname(), _dead_pid()
    async with session_factory() as s:
        killed = RetentionRun(
            started_at=T0, as_of=T0, trigger="serve", status="running", summary={},
            host=host, pid=pid, heartbeat_at=T0,
        )
        s.add(killed)
        s.add(
            RetentionLease(
                name=LEASE, holder="killed", expires_at=T0 + timedelta(minutes=10),
                host=host, pid=pid, since=T0, heartbeat_at=T0,
            )
        )
        await s.commit()
        killed_id = killed.id

    after = await sweeper(session_factory, store, clock).run()
    assert after.skipped is None
    async with session_factory() as s:
        run = await s.get(RetentionRun, killed_id)
        assert run is not None and run.status == "interrupted"
        assert run.error and "killed" in run.error
        own = await s.get(RetentionRun, after.run_id)
        assert own is not None and own.status == "done"
        if not is_postgres(s):  # the lease was taken over, then dropped when done
            assert await s.get(RetentionLease, LEASE) is None


async def test_a_silent_holder_elsewhere_is_taken_over_after_three_beats(
    session_factory: Sessions, store: S3ObjectStore
) -> None:
    """A holder on another host (its pid cannot be checked) is alive while it beats: a
    sweep then steps aside and names it; three beats of silence and the lease is taken."""
    clock = FrozenClock(T0)
    async with session_factory() as s:
        other = RetentionRun(
            started_at=T0, as_of=T0, trigger="cli", status="running", summary={},
            host="other-host", pid=4242, heartbeat_at=T0,
        )
        s.add(other)
        s.add(
            RetentionLease(
                name=LEASE, holder="other", expires_at=T0 + timedelta(minutes=10),
                host="other-host", pid=4242, since=T0, heartbeat_at=T0,
            )
        )
        await s.commit()
        other_id, postgres = other.id, is_postgres(s)

    async def status() -> str:
        async with session_factory() as s:
            run = await s.get(RetentionRun, other_id)
            assert run is not None
            return run.status

    clock.set(T0 + HEARTBEAT * 2)
    early = await sweeper(session_factory, store, clock).run()
    if postgres:  # no lease: sweepers run side by side, the live one's run stays running
        assert early.skipped is None
    else:
        assert early.skipped and early.holder is not None
        assert early.holder.describe() == f"host other-host, pid 4242, since {T0.isoformat()}"
    assert await status() == "running"
    clock.set(T0 + HEARTBEAT * STALE_BEATS + SECOND)
    late = await sweeper(session_factory, store, clock).run()
    assert late.skipped is None
    assert await status() == "interrupted"


async def test_reconcile_fix_finishes_a_half_job(
    session_factory: Sessions, any_store: S3ObjectStore
) -> None:
    store = any_store
    clock = FrozenClock(T0)
    ids = await _world(session_factory, store, clock)
    clock.set(LATE)
    with pytest.raises(asyncio.CancelledError):
        await sweeper(
            session_factory, DiesAfterDelete(store, asyncio.CancelledError()), clock
        ).run()  # type: ignore[arg-type]
    fixed = await reconcile(session_factory, store, clock, fix=True)
    assert fixed.cleaned_rows == fixed.missing_objects and fixed.cleaned_rows
    await sweeper(session_factory, store, clock).run()
    await _assert_finished(session_factory, store, ids)


async def test_two_sweepers_at_once_delete_everything_exactly_once(
    session_factory: Sessions, store: S3ObjectStore
) -> None:
    clock = FrozenClock(T0)
    async with session_factory() as s:
        tickets = [await closed_ticket(s, store, clock) for _ in range(8)]
        free = [(await recording(s, store, T0)).id for _ in range(6)]
        kept = await recording(s, store, T0)
        ids = {"tickets": tickets, "free": free, "kept": kept.id, "kept_key": kept.object_key}
        await s.commit()
    async with session_factory() as s:
        await hold(s, store, clock, ids["kept"])
        await s.commit()
    clock.set(LATE)
    first, second = await asyncio.gather(
        sweeper(session_factory, store, clock).run(), sweeper(session_factory, store, clock).run()
    )
    assert first.failed == second.failed == 0
    async with session_factory() as s:
        if is_postgres(s):  # SKIP LOCKED: both work side by side; SQLite: the lease
            assert not first.skipped and not second.skipped
        else:
            assert [first.skipped, second.skipped].count(None) >= 1
    went = sum(
        r.rules[key].deleted
        for r in (first, second)
        if not r.skipped
        for key in ("support_information", "recordings")
    )
    assert went == 8 + 6
    await _assert_finished(session_factory, store, ids)


async def test_reconcile_removes_only_old_unheld_orphans_and_cleans_rows(
    session_factory: Sessions, any_store: S3ObjectStore
) -> None:
    store = any_store
    clock = FrozenClock(T0)
    await store.put("recordings/2026/01/orphan-old.ogg", b"old")
    await store.put("recordings/2026/01/orphan-held.ogg", b"held")
    await store.set_legal_hold("recordings/2026/01/orphan-held.ogg", True)
    await store.put("exports/not-ours.zip", b"other prefixes are left alone")
    async with session_factory() as s:
        ticket_id = await closed_ticket(s, store, clock)
        key = await s.scalar(select(Attachment.object_key))
        held = await recording(s, store, T0)
        held_id, held_key = held.id, held.object_key
        await s.commit()
    async with session_factory() as s:
        await hold(s, store, clock, held_id)
        await s.commit()
    assert key is not None
    await store.delete(key)  # lost out-of-band
    await store.set_legal_hold(held_key, False)
    await store.delete(held_key)

    young = await reconcile(session_factory, store, FrozenClock(T0), fix=True)
    assert sorted(young.orphan_objects) == [
        "recordings/2026/01/orphan-held.ogg",
        "recordings/2026/01/orphan-old.ogg",
    ]
    assert young.removed_objects == []  # real upload times are "now": younger than an hour

    later = FrozenClock(clock.now() + timedelta(days=400))
    report = await reconcile(session_factory, store, later, fix=True)
    assert report.removed_objects == ["recordings/2026/01/orphan-old.ogg"]
    assert report.kept_objects == {"recordings/2026/01/orphan-held.ogg": "held"}
    assert report.cleaned_rows == [f"attachment {key_id}" for key_id in report_ids(report)]
    assert list(report.kept_rows) == [f"recording {held_id}"]
    assert await store.exists("exports/not-ours.zip")
    async with session_factory() as s:
        assert await count(s, Attachment) == 0
        assert await s.get(Ticket, ticket_id) is not None
        assert await s.get(Recording, held_id) is not None
        assert await count(s, AuditEvent, AuditEvent.action == "attachment.object_missing") == 1


def report_ids(report: Any) -> list[str]:
    return [row.split()[-1] for row in report.missing_objects if row.startswith("attachment")]
