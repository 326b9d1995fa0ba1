"""Running the bot inside `supportdesk serve`: long polling plus the delivery worker, started
and stopped with the admin app (an aiohttp cleanup context)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.delivery import delivery_loop
from bot.dispatcher import create_bot, create_dispatcher

log = logging.getLogger(__name__)


async def bot_cleanup_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start polling and the delivery loop after the database and object store are open;
    stop both on shutdown. Must be appended after the app's database/object-store contexts."""
    from admin.app import CLOCK, OBJECT_STORE, SESSIONMAKER, SETTINGS, TICKETS

    settings = app[SETTINGS]
    bot = create_bot(settings)
    dp = create_dispatcher(
        sessionmaker=app[SESSIONMAKER],
        ticket_service=app[TICKETS],
        object_store=app[OBJECT_STORE],
        settings=settings,
        clock=app[CLOCK],
    )
    if settings.webhook_url:
        log.warning("SUPPORTDESK_WEBHOOK_URL is set but webhooks are not implemented yet; polling")
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False), name="bot-polling"
    )
    delivery = asyncio.create_task(
        delivery_loop(bot, app[SESSIONMAKER], app[CLOCK]), name="bot-delivery"
    )
    log.info("telegram bot started (long polling via %s)", settings.telegram_api_base)
    try:
        yield
    finally:
        delivery.cancel()
        with contextlib.suppress(RuntimeError):  # polling had not started yet
            await dp.stop_polling()
        for task in (polling, delivery):
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await bot.session.close()
        log.info("telegram bot stopped")
