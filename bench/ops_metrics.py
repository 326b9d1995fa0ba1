"""Scrape cost benchmark: GET /metrics reads its business counts from the database
at scrape time. Measures it at 1 000 000 tickets (each with a message and two audit events)
on SQLite through the real app over loopback HTTP, next to GET /healthz (a `SELECT 1`) as
the baseline in the same run.

    .venv/bin/python bench/ops_metrics.py [--tickets 1000000] [--requests 30] [--db PATH]

Target: p95 well under a second, so a 15 s scrape interval leaves the database idle. `--db`
keeps (and reuses) the seeded file between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin_inbox import START, _ts, prepare, seed  # the inbox benchmark's bulk seeding
from aiohttp.test_utils import TestClient, TestServer

from admin.app import create_app
from storage.clock import SystemClock
from storage.config import Settings
from storage.db import create_engine


def seed_audit(path: Path, tickets: int) -> None:
    """Two audit events per ticket (opened, and closed for every third) plus noise actions,
    so the counters' index lookups run against a realistically large trail."""
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    now = _ts(START)
    batch = 100_000
    for first in range(1, tickets + 1, batch):
        rows = []
        for tid in range(first, min(first + batch, tickets + 1)):
            rows.append((now, "ticket.opened", str(tid)))
            rows.append((now, "ticket.closed" if tid % 3 == 0 else "ticket.reply", str(tid)))
        con.executemany(
            "INSERT INTO audit_events (occurred_at, actor_type, actor_label, action,"
            " subject_type, subject_id, details) VALUES (?, 'system', 'bench', ?, 'ticket', ?,"
            " '{}')",
            rows,
        )
        con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()


async def _timed(client: TestClient, url: str, n: int) -> list[float]:
    for _ in range(2):
        assert (await client.get(url)).status == 200
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        response = await client.get(url)
        await response.read()
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status == 200, url
    return samples


async def measure(path: Path, n: int) -> dict[str, list[float]]:
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    settings = Settings(data_dir=path.parent / "var", database_url=url)
    client = TestClient(TestServer(create_app(settings, clock=SystemClock(), engine=engine)))
    await client.start_server()
    try:
        metrics = await client.get("/metrics")
        body = await metrics.text()
        opened = next(
            line for line in body.splitlines() if line.startswith("supportdesk_tickets_opened")
        )
        print(opened)
        return {url: await _timed(client, url, n) for url in ("/healthz", "/metrics")}
    finally:
        await client.close()
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--db", type=Path, help="SQLite file to keep and reuse")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    path = args.db or Path(tmp.name) / "bench.sqlite3"
    if not path.exists():
        began = time.perf_counter()
        asyncio.run(prepare(path, args.tickets))
        seed(path, args.tickets)
        seed_audit(path, args.tickets)
        print(f"seeded {args.tickets} tickets in {time.perf_counter() - began:.1f} s")
    results = asyncio.run(measure(path, args.requests))
    medians = {}
    for url, samples in results.items():
        p95 = statistics.quantiles(samples, n=20)[-1]
        medians[url] = statistics.median(samples)
        print(f"{url:9} p50 {medians[url]:8.1f} ms   p95 {p95:8.1f} ms")
    print(f"/metrics costs {medians['/metrics'] / medians['/healthz']:.1f}x a /healthz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
