"""`supportdesk sweep`, `reconcile` and `hold-review` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from retention_helpers import T0, closed_ticket, hold, recording
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.clock import FrozenClock
from storage.objectstore import LocalObjectStore

pytestmark = pytest.mark.storage
CLI = [sys.executable, "-m", "admin.cli"]


def _run(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTDESK_")}
    env["SUPPORTDESK_DATA_DIR"] = str(tmp_path / "var")
    env["SUPPORTDESK_DATABASE_URL"] = database_url
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


async def test_sweep_reconcile_and_hold_review(
    tmp_path: Path, database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    store = LocalObjectStore(tmp_path / "var" / "objects")
    clock = FrozenClock(T0)
    async with session_factory() as s:
        for _ in range(3):
            await closed_ticket(s, store, clock)
        held = await recording(s, store, T0)
        held_id = held.id
        await s.commit()
    async with session_factory() as s:
        await hold(s, store, clock, held_id)
        await s.commit()
    await store.put("attachments/999/1/lost", b"no row")

    late = (T0.replace(year=T0.year + 3) + timedelta(seconds=1)).isoformat()  # calendar years
    bad = _run(tmp_path, database_url, "sweep", "--batch", "0")
    assert bad.returncode == 2
    dry = _run(tmp_path, database_url, "sweep", "--dry-run", "--now", late)
    assert dry.returncode == 0, dry.stderr
    assert "support_information: would delete 3, kept under hold 0" in dry.stdout
    assert "recordings: would delete 0, kept under hold 1" in dry.stdout
    done = _run(tmp_path, database_url, "sweep", "--now", late, "--batch", "2")
    assert done.returncode == 0, done.stderr
    assert "support_information: deleted 3, kept under hold 0, failed 0" in done.stdout
    again = _run(tmp_path, database_url, "sweep", "--now", late)
    assert "support_information: deleted 0" in again.stdout  # idempotent

    report = _run(tmp_path, database_url, "reconcile")
    assert report.returncode == 0, report.stderr
    assert "objects without a row: 1 (removed 0, kept 0)" in report.stdout
    assert "orphan object attachments/999/1/lost" in report.stdout
    fixed = _run(tmp_path, database_url, "reconcile", "--fix")
    # Just uploaded: younger than an hour, so an upload may still be in flight.
    assert "objects without a row: 1 (removed 0, kept 1)" in fixed.stdout

    review = _run(tmp_path, database_url, "hold-review", "--now", late)
    assert review.returncode == 0, review.stderr
    assert "Blokkades ter beoordeling" in review.stdout.splitlines()[0]
    assert f"recording {held_id}: evidence hold" in review.stdout
    assert "geschil" not in review.stdout
