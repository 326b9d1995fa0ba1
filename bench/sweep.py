"""Retention sweep benchmark: N tickets (default 1 000 000) with 10 % due for
deletion, bulk-seeded into SQLite, swept by the real sweeper (storage/retention).

    .venv/bin/python bench/sweep.py [--tickets 1000000] [--due 0.1] [--batch 500]

Each ticket has one message; each due ticket also has an audit event from when it was
closed and every 100th due ticket an attachment object (local object store). Prints the
time of a sweep with nothing due (target < 100 ms), of the sweep that deletes the due
tickets (target < 60 s) and the time per deleted ticket.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import func, insert, select

from recordings.service import RecordingService
from storage import migrate
from storage.clock import FrozenClock
from storage.db import create_engine, create_sessionmaker
from storage.models import Attachment, AuditEvent, Ticket, TicketMessage
from storage.objectstore import LocalObjectStore
from storage.retention.rules import schedule
from storage.retention.sweeper import Sweeper

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=3 * 365 + 30)
RECENT = NOW - timedelta(days=10)
CHUNK = 50_000


def seed(path: Path, tickets: int, due_share: float) -> tuple[int, list[tuple[int, int]]]:
    """Bulk insert through a sync engine; returns (due count, (ticket, message) pairs that
    get an attachment)."""
    engine = create_sync_engine(f"sqlite:///{path}")
    every = round(1 / due_share)
    due = 0
    attach: list[tuple[int, int]] = []
    with engine.begin() as conn:
        for first in range(1, tickets + 1, CHUNK):
            ids = range(first, min(first + CHUNK, tickets + 1))
            rows, messages, events = [], [], []
            for i in ids:
                is_due = i % every == 0
                closed = i % 2 == 0
                closed_at = OLD if is_due else (RECENT if closed else None)
                stamp = closed_at or RECENT
                rows.append(
                    {
                        "id": i,
                        "reference": f"T-2023-{i:07d}",
                        "subject": "Storing internet",
                        "category": "internet",
                        "status": "closed" if closed_at else "open",
                        "priority": "normal",
                        "channel": "telegram",
                        "thread_version": 1,
                        "message_count": 1,
                        "created_at": stamp,
                        "updated_at": stamp,
                        "last_activity_at": stamp,
                        "closed_at": closed_at,
                    }
                )
                messages.append(
                    {
                        "id": i,
                        "ticket_id": i,
                        "direction": "in",
                        "text": "Mijn verbinding valt steeds weg sinds vanochtend.",
                        "delivery_state": "n/a",
                        "delivery_attempts": 0,
                        "created_at": stamp,
                    }
                )
                if is_due:
                    due += 1
                    events.append(
                        {
                            "occurred_at": stamp,
                            "actor_type": "staff",
                            "actor_id": "1",
                            "actor_label": "alice",
                            "action": "ticket.closed",
                            "subject_type": "ticket",
                            "subject_id": str(i),
                            "details": {"status": "closed"},
                        }
                    )
                    if due % 100 == 0:
                        attach.append((i, i))
            conn.execute(insert(Ticket.__table__), rows)
            conn.execute(insert(TicketMessage.__table__), messages)
            if events:
                conn.execute(insert(AuditEvent.__table__), events)
    engine.dispose()
    return due, attach


async def main(tickets: int, due_share: float, batch: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sd-bench-sweep-") as tmp:
        db = Path(tmp) / "bench.sqlite3"
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        await migrate.upgrade(engine)
        started = time.perf_counter()
        due, attach = seed(db, tickets, due_share)
        store = LocalObjectStore(Path(tmp) / "objects")
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            for ticket_id, message_id in attach:
                key = f"attachments/{ticket_id}/{message_id}/bench"
                put = await store.put(key, b"x" * 1024)
                session.add(
                    Attachment(
                        ticket_id=ticket_id,
                        message_id=message_id,
                        object_key=key,
                        version_id=put.version_id,
                        size=put.size,
                        sha256=put.sha256,
                        created_at=OLD,
                    )
                )
            await session.commit()
        print(
            f"seeded {tickets:,} tickets ({due:,} due, {len(attach):,} with an attachment) "
            f"in {time.perf_counter() - started:.1f} s"
        )

        def sweeper() -> Sweeper:
            clock = FrozenClock(NOW)
            vault = RecordingService(clock, store)
            return Sweeper(sessions, store, clock, schedule(), batch=batch, recordings=vault)

        # A running serve has swept before: warm the pool, statement cache and page cache.
        await sweeper().run(now=NOW - timedelta(days=2 * 365))
        started = time.perf_counter()
        idle = await sweeper().run(now=NOW - timedelta(days=2 * 365))
        idle_ms = (time.perf_counter() - started) * 1000
        assert sum(r.deleted for r in idle.rules.values()) == 0

        started = time.perf_counter()
        result = await sweeper().run(now=NOW)
        elapsed = time.perf_counter() - started
        deleted = result.rules["support_information"].deleted

        started = time.perf_counter()
        again = await sweeper().run(now=NOW)
        again_ms = (time.perf_counter() - started) * 1000

        async with sessions() as session:
            left = await session.scalar(select(func.count()).select_from(Ticket))
        await engine.dispose()

    print(f"sweep with nothing due:         {idle_ms:8.1f} ms   (target < 100 ms)")
    print(f"sweep deleting {deleted:,} tickets: {elapsed:8.2f} s    (target < 60 s)")
    print(f"  per deleted ticket:           {elapsed / max(deleted, 1) * 1e6:8.1f} µs")
    for key, report in result.rules.items():
        print(
            f"  {key}: deleted {report.deleted:,} in {report.seconds:.2f} s, "
            f"failed {len(report.failed)}"
        )
    print(f"re-run with nothing left due:   {again_ms:8.1f} ms")
    print(f"tickets left: {left:,} (expected {tickets - due:,})")
    assert deleted == due and left == tickets - due and result.failed == 0
    assert sum(r.deleted for r in again.rules.values()) == 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--due", type=float, default=0.1)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.tickets, args.due, args.batch))
