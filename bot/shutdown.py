"""Graceful stop of the bot runtime on SIGTERM: stop taking updates, let the updates being
handled finish, send the replies that are due, then release Redis.

The admin's HTTP server has already drained its in-flight requests (webhook deliveries
included) when the cleanup context that calls this runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from aiogram import Bot, Dispatcher
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import deliver_pending
from bot.processor import UpdateProcessor
from storage.clock import Clock

log = logging.getLogger(__name__)

INBOX_TASK = "bot-inbox"
DRAIN_TIMEOUT = 10.0
FLUSH_LIMIT = 200


async def _stop(tasks: Iterable[asyncio.Task[None]]) -> None:
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def drain(
    tasks: list[asyncio.Task[None]],
    processor: UpdateProcessor,
    bot: Bot,
    dp: Dispatcher,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    grace: float = DRAIN_TIMEOUT,
) -> None:
    """Stop polling and the delivery loop, wait (bounded) for in-flight updates, stop the
    inbox processor, flush the due outbox once and close the FSM storage. Updates still
    unhandled after `grace` seconds stay in the inbox for the next start."""
    await _stop(t for t in tasks if t.get_name() != INBOX_TASK)
    if processor.tasks:
        _, late = await asyncio.wait(set(processor.tasks), timeout=grace)
        if late:
            log.warning(
                "%d bot update lane(s) still busy at shutdown; kept in the inbox", len(late)
            )
    await _stop(t for t in tasks if t.get_name() == INBOX_TASK)
    try:
        sent = await asyncio.wait_for(
            deliver_pending(bot, sessionmaker, clock, limit=FLUSH_LIMIT), grace
        )
        log.info("outbox flushed at shutdown: %d reply/replies handled", sent)
    except Exception as exc:  # the next instance's worker picks them up
        log.warning("outbox flush at shutdown failed: %s", type(exc).__name__)
    await dp.fsm.close()
