"""Retention in the admin: the schedule (generated from storage.retention.rules, so the page
cannot drift from what runs), the sweep-run history, holds due for review, and the periodic
sweep inside `serve` (a cleanup_ctx task)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import select

from admin.auth import Permission, requires
from admin.keys import CLOCK, DB, OBJECT_STORE, RECORDINGS, SESSIONMAKER, SETTINGS
from admin.middleware import render
from bot.texts import FiledNoticeText, create_i18n
from storage.config import ConfigError
from storage.models import RetentionRun
from storage.retention.holds import due_for_review
from storage.retention.rules import STATEMENT, UnknownRule, schedule
from storage.retention.sweeper import Sweeper

log = logging.getLogger(__name__)
RUNS_SHOWN = 50
FIRST_SWEEP_DELAY = 300  # seconds

@requires(Permission.RETENTION_VIEW)
async def retention_page(request: web.Request) -> web.Response:
    rules = schedule(request.app[SETTINGS].retention_period_days)
    runs = list(
        await request[DB].scalars(
            select(RetentionRun).order_by(RetentionRun.id.desc()).limit(RUNS_SHOWN)
        )
    )
    return render(
        "retention.html",
        request,
        {"rules": rules, "runs": runs, "statement": STATEMENT},
    )


@requires(Permission.RETENTION_VIEW)
async def holds_page(request: web.Request) -> web.Response:
    now = request.app[CLOCK].now()
    holds = await due_for_review(request[DB], now)
    return render(
        "retention_holds.html",
        request,
        {"holds": holds, "now": now},
    )


async def sweep_ctx(app: web.Application) -> AsyncIterator[None]:
    """Sweep every SUPPORTDESK_RETENTION_SWEEP_INTERVAL seconds while serving (0: off).
    Safe next to `supportdesk sweep` and other instances (see storage/retention/sweeper)."""
    settings = app[SETTINGS]
    interval = settings.retention_sweep_interval
    task = asyncio.create_task(_sweep_forever(app, interval)) if interval else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _sweep_forever(app: web.Application, interval: int) -> None:
    settings = app[SETTINGS]
    rules = schedule(settings.retention_period_days)
    # The first sweep soon after start: an instance restarted more often than the
    # interval must still sweep.
    delay = min(interval, FIRST_SWEEP_DELAY)
    notice = FiledNoticeText(await asyncio.to_thread(create_i18n))  # .mo files: off the loop
    while True:
        await asyncio.sleep(delay)
        delay = interval
        sweeper = Sweeper(
            app[SESSIONMAKER],
            app[OBJECT_STORE],
            app[CLOCK],
            rules,
            batch=settings.retention_batch_size,
            recordings=app[RECORDINGS],  # the settings' policy: deletes clear waveforms too
            filed_notice=notice,
        )
        try:
            result = await sweeper.run(trigger="serve")
        except Exception as exc:  # the next interval tries again; the run row says why
            log.warning("retention sweep failed: %s", type(exc).__name__)
            continue
        deleted = sum(report.deleted for report in result.rules.values())
        log.info("retention sweep: %d deleted, %d failed", deleted, result.failed)


def install(app: web.Application) -> None:
    """The periodic sweep; call after the database and store contexts.
    A bad SUPPORTDESK_RETENTION_PERIODS stops start-up with one line naming it."""
    try:
        schedule(app[SETTINGS].retention_period_days)
    except UnknownRule as exc:
        raise ConfigError(f"configuration error: SUPPORTDESK_RETENTION_PERIODS: {exc}") from None
    app.cleanup_ctx.append(sweep_ctx)
