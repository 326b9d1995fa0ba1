"""Retention on the command line: `supportdesk sweep` (every rule, recordings included),
`supportdesk reconcile` (objects without rows, rows whose version is not stored) and
`supportdesk hold-review`."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

import click

from admin.cli.runtime import CONFIG_ERROR, cli_runtime, cli_settings, fail, moment_option, run
from bot.texts import FiledNoticeText, create_i18n
from recordings.reconcile import ReconcileReport
from recordings.reconcile import reconcile as run_reconcile
from storage.clock import SystemClock
from storage.config import Settings
from storage.retention import jobs
from storage.retention.holds import due_for_review, render_summary
from storage.retention.pending import PendingReport, settle_pending
from storage.retention.rules import Rule, UnknownRule, schedule
from storage.retention.sweeper import Sweeper, SweepResult

# sysexits.h: a temporary failure, try again later (cron and systemd see it).
EX_TEMPFAIL = 75

# Why items went or were kept back (the keys of jobs.Outcome.deleted_by / .kept).
WHY = {
    jobs.CLOSED: "closed, period counted from closing",
    jobs.INACTIVE: "never closed, period counted from the last activity",
    jobs.OPEN_PRIVACY_REQUEST: "open privacy request: kept until it is closed",
    jobs.FILED: "filed on the customer's most recent open ticket instead",
    jobs.NOT_FILED: "kept: could not be filed on a ticket in this run",
}


def _rules(settings: Settings) -> tuple[Rule, ...]:
    try:
        return schedule(settings.retention_period_days)
    except UnknownRule as exc:
        fail(f"configuration error: SUPPORTDESK_RETENTION_PERIODS: {exc}", CONFIG_ERROR)


def print_sweep(result: SweepResult) -> None:
    if result.skipped:
        holder = f" ({result.holder.describe()})" if result.holder else ""
        click.echo(f"sweep skipped: {result.skipped}{holder}", err=True)
        return
    verb = "would delete" if result.dry_run else "deleted"
    click.echo(f"retention sweep as of {result.as_of.isoformat()} (run {result.run_id})")
    for settled in (result.pending, result.store):
        for line in settled.lines() if settled is not None else []:
            click.echo(line)
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

    Safe to kill and re-run, and to run next to `serve` or another sweep. Exits 75
    (EX_TEMPFAIL) when a live sweeper holds the lease (SQLite), 1 when something failed.
    """
    settings = cli_settings()
    rules = _rules(settings)
    now = moment_option(now_text, settings, "--now")
    result = run(_sweep(settings, rules, now, dry_run, batch or settings.retention_batch_size))
    print_sweep(result)
    if result.skipped:
        sys.exit(EX_TEMPFAIL)
    if result.failed:
        sys.exit(1)


async def _sweep(
    settings: Settings, rules: tuple[Rule, ...], now: datetime | None, dry_run: bool, batch: int
) -> SweepResult:
    async with cli_runtime(settings, bucket=True) as rt:
        i18n = await asyncio.to_thread(create_i18n)  # .mo files: off the event loop
        sweeper = Sweeper(
            rt.sessions,
            rt.store,
            rt.clock,
            rules,
            batch=batch,
            recordings=rt.recordings(),
            filed_notice=FiledNoticeText(i18n),
        )
        return await sweeper.run(now=now, dry_run=dry_run, trigger="cli")


@click.command("reconcile")
@click.option(
    "--fix",
    is_flag=True,
    help="Remove orphan objects (>1 h, not held) and stray delete markers; clean rows "
    "whose key holds nothing.",
)
@click.option(
    "--adopt-current",
    is_flag=True,
    help="After a bucket restore or copy (new version ids): point each row whose version "
    "is missing at its key's current version, when that version's sha256 matches the row.",
)
def reconcile(fix: bool, adopt_current: bool) -> None:
    """Check that every row's object version is stored, and every object has a row.

    Without options it only reports and changes nothing (not even a missing bucket).
    With --fix, object writes left pending (given up at their deadline) over an hour ago
    are settled first: their objects go unless a row names them; then recordings whose
    legal hold or decided delete a store timeout left unconfirmed are brought in step.
    Exit 1 when the bucket is missing.
    """
    settled, report = run(_reconcile(cli_settings(), fix, adopt_current))
    for line in [line for done in settled for line in done.lines()] + report.lines():
        click.echo(line)
    if report.bucket_missing:
        sys.exit(1)


async def _reconcile(
    settings: Settings, fix: bool, adopt_current: bool
) -> tuple[list[PendingReport], ReconcileReport]:
    # No bucket=True: reconcile must not create a bucket (without its lifecycle rules).
    async with cli_runtime(settings) as rt:
        settled: list[PendingReport] = []
        if await rt.store.bucket_exists():
            settled.append(
                await settle_pending(rt.sessions, rt.store, rt.clock.now(), dry_run=not fix)
            )
        report = await run_reconcile(
            rt.sessions,
            rt.store,
            rt.clock,
            fix=fix,
            adopt_current=adopt_current,
            recordings=rt.recordings(),
        )
        return settled, report


@click.command("hold-review")
@click.option("--now", "now_text", default=None, help="As of this ISO time (default now).")
def hold_review(now_text: str | None) -> None:
    """Daily summary for privacy officers: recording holds past their review date.

    Evidence holds stay on it until someone renews or releases them; a training hold is
    released by the sweep on its review date unless renewed.
    """
    settings = cli_settings()
    now = moment_option(now_text, settings, "--now") or SystemClock().now()
    click.echo(run(_hold_review(settings, now)))


async def _hold_review(settings: Settings, now: datetime) -> str:
    async with cli_runtime(settings) as rt, rt.sessions() as session:
        return render_summary(await due_for_review(session, now), now, settings.zone)
