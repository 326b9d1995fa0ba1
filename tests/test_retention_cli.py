"""`supportdesk sweep`, `reconcile` and `hold-review` as an operator runs them (in-process)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from retention_helpers import T0, closed_ticket, hold, recording
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.clock import FrozenClock
from storage.objectstore import LocalObjectStore
from tests.cli_fixtures import ainvoke, cli_env

pytestmark = pytest.mark.storage


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
    env = cli_env(tmp_path / "var", database_url)

    late = (T0.replace(year=T0.year + 3) + timedelta(seconds=1)).isoformat()  # calendar years
    bad = await ainvoke(env, "sweep", "--batch", "0")
    assert bad.exit_code == 2
    dry = await ainvoke(env, "sweep", "--dry-run", "--now", late)
    assert dry.exit_code == 0, dry.stderr
    assert "support_information: would delete 3, kept under hold 0" in dry.stdout
    assert "recordings: would delete 0, kept under hold 1" in dry.stdout
    done = await ainvoke(env, "sweep", "--now", late, "--batch", "2")
    assert done.exit_code == 0, done.stderr
    assert "support_information: deleted 3, kept under hold 0, failed 0" in done.stdout
    again = await ainvoke(env, "sweep", "--now", late)
    assert "support_information: deleted 0" in again.stdout  # idempotent

    report = await ainvoke(env, "reconcile")
    assert report.exit_code == 0, report.stderr
    assert "objects without a row: 1 (removed 0, kept 0)" in report.stdout
    assert "orphan object attachments/999/1/lost" in report.stdout
    fixed = await ainvoke(env, "reconcile", "--fix")
    # Just uploaded: younger than an hour, so an upload may still be in flight.
    assert "objects without a row: 1 (removed 0, kept 1)" in fixed.stdout

    review = await ainvoke(env, "hold-review", "--now", late)
    assert review.exit_code == 0, review.stderr
    assert "Blokkades ter beoordeling" in review.stdout.splitlines()[0]
    assert f"recording {held_id}: evidence hold" in review.stdout
    assert "geschil" not in review.stdout


@pytest.mark.parametrize(
    ("command", "moment", "why"),
    [
        ("sweep", "yesterday", "not an ISO date/time"),
        ("hold-review", "2026-13-01", "not an ISO date/time"),
        ("sweep", "0001-01-01T00:30:00+01:00", "out of range"),
    ],
)
async def test_a_bad_now_is_refused_before_anything_runs(
    tmp_path: Path, database_url: str, command: str, moment: str, why: str
) -> None:
    result = await ainvoke(cli_env(tmp_path / "var", database_url), command, "--now", moment)
    assert result.exit_code == 2 and why in result.stderr and "--now" in result.stderr
    assert not (tmp_path / "var" / "objects").exists(), "no store opened for a bad option"


async def test_an_unknown_retention_rule_is_a_configuration_error(
    tmp_path: Path, database_url: str
) -> None:
    env = cli_env(tmp_path / "var", database_url, SUPPORTDESK_RETENTION_PERIODS='{"nope": 3}')
    result = await ainvoke(env, "sweep", "--dry-run")
    assert result.exit_code == 2
    assert result.stderr.startswith("configuration error: SUPPORTDESK_RETENTION_PERIODS:")
