"""The delivery loop run by the bot runtime: each round sends the due head of every chat
from the outbox (bot/outbox.py): bot answers, agent replies and edits of replies alike."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import deliver_pending
from storage.clock import Clock

log = logging.getLogger(__name__)


async def delivery_loop(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    *,
    interval: float = 1.0,
    limit: int = 20,
) -> None:
    """Run until cancelled: deliver due rows, idle `interval` seconds when there are none."""
    while True:
        try:
            handled = await deliver_pending(bot, sessionmaker, clock, limit)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery round failed")
            handled = 0
        if handled < limit:
            await asyncio.sleep(interval)
