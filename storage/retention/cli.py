"""`supportdesk sweep`, `supportdesk reconcile` and `supportdesk hold-review`.

Registered on the main group in admin/cli.py; `sweep` replaces the recordings-only sweep.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from recordings.cli import _parse_moment, _settings
from recordings.policy import policy_from_settings
from recordings.reconcile import ReconcileReport
from recordings.reconcile import reconcile as run_reconcile
from recordings.service import RecordingService
from storage import migrate as migrations
from storage.clock import SystemClock
from storage.config import Settings
from storage.db import create_engine, create_sessionmaker
from storage.objectstore import ObjectStore, create_object_store
from storage.retention import jobs
from storage.retention.holds import due_for_review, render_summary
from storage.retention.rules import Rule, UnknownRule, schedule
from storage.retention.sweeper import Sweeper, SweepResult

T = TypeVar("T")


def _rules(settings: Settings) -> tuple[Rule, ...]:
    try:
        return schedule(settings.retention_period_days)
    except UnknownRule as exc:
        click.echo(f"configuration error: SUPPORTDESK_RETENTION_PERIODS: {exc}", err=True)
        sys.exit(2)


def _recordings(settings: Settings, store: ObjectStore) -> RecordingService:
    """The service with the settings' policy: its deletes also clear cached waveforms."""
    return RecordingService(SystemClock(), store, policy_from_settings(settings))


async def _with_db(
    settings: Settings,
    work: Callable[[async_sessionmaker[AsyncSession], ObjectStore], Awaitable[T]],
) -> T:
    engine = create_engine(settings.effective_database_url)
    store = create_object_store(settings)
    try:
        await migrations.upgrade(engine)
        await store.ensure_bucket()
        return await work(create_sessionmaker(engine), store)
    finally:
        await store.close()
        await engine.dispose()


# Why items went or were kept back (the keys of jobs.Outcome.deleted_by / .kept).
WHY = {
    jobs.CLOSED: "closed, period counted from closing",
    jobs.INACTIVE: "never closed, period counted from the last activity",
    jobs.OPEN_PRIVACY_REQUEST: "open privacy request: kept until it is closed",
}


def print_sweep(result: SweepResult) -> None:
    if result.skipped:
        click.echo(f"sweep skipped: {result.skipped}")
        return
    verb = "would delete" if result.dry_run else "deleted"
    click.echo(f"retention sweep as of {result.as_of.isoformat()} (run {result.run_id})")
    for key, report in result.rules.items():
        line = f"{key}: {verb} {report.deleted}, kept under hold {report.kept_held}"
        click.echo(f"{line}, failed {len(report.failed) + (1 if report.error else 0)}")
        for reason, n in report.deleted_by.items():
            click.echo(f"  {key}: {verb} {n} ({WHY.get(reason, reason)})")
        for reason, n in report.kept.items():
            click.echo(f"  {key}: kept back {n} ({WHY.get(reason, reason)})")
        if report.error:
            click.echo(f"  {key} stopped: {report.error} (a re-run continues)", err=True)
        for item in report.failed:
            click.echo(f"  {key}: kept {item} (failed or held)", err=True)


@click.command("sweep")
@click.option("--now", "now_text", default=None, help="Sweep as of this ISO time (default now).")
@click.option("--dry-run", is_flag=True, help="Only count what would go, per rule.")
@click.option("--batch", type=click.IntRange(1, 10000), default=None, help="Rows per transaction.")
def sweep(now_text: str | None, dry_run: bool, batch: int | None) -> None:
    """Apply every retention rule: delete what is due (holds respected, audited).

    Safe to kill and re-run, and to run next to `serve` or another sweep.
    """
    settings = _settings()
    rules = _rules(settings)
    now: datetime | None = _parse_moment(now_text, settings, "--now")

    async def work(sessions: async_sessionmaker[AsyncSession], store: ObjectStore) -> SweepResult:
        sweeper = Sweeper(
            sessions,
            store,
            SystemClock(),
            rules,
            batch=batch or settings.retention_batch_size,
            recordings=_recordings(settings, store),
        )
        return await sweeper.run(now=now, dry_run=dry_run, trigger="cli")

    result = asyncio.run(_with_db(settings, work))
    print_sweep(result)
    if result.failed:
        sys.exit(1)


@click.command("reconcile")
@click.option("--fix", is_flag=True, help="Remove orphan objects (>1 h, not held), clean rows.")
def reconcile(fix: bool) -> None:
    """Find objects without rows and rows without objects (e.g. after a crash)."""
    settings = _settings()

    async def work(
        sessions: async_sessionmaker[AsyncSession], store: ObjectStore
    ) -> ReconcileReport:
        recordings = _recordings(settings, store)
        return await run_reconcile(sessions, store, SystemClock(), fix=fix, recordings=recordings)

    report = asyncio.run(_with_db(settings, work))
    for line in report.lines():
        click.echo(line)


@click.command("hold-review")
@click.option("--now", "now_text", default=None, help="As of this ISO time (default now).")
def hold_review(now_text: str | None) -> None:
    """Daily summary for privacy officers: recording holds past their review date.

    Nothing is released automatically.
    """
    settings = _settings()
    now = _parse_moment(now_text, settings, "--now") or SystemClock().now()

    async def work(sessions: async_sessionmaker[AsyncSession], _store: ObjectStore) -> str:
        async with sessions() as session:
            return render_summary(await due_for_review(session, now), now, settings.zone)

    click.echo(asyncio.run(_with_db(settings, work)))
