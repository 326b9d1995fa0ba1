"""Running the bot inside `supportdesk serve`: webhook (SUPPORTDESK_WEBHOOK_URL set) or long
polling, the inbox processor and the delivery worker, started and stopped with the admin app
(an aiohttp cleanup context)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from admin.keys import (
    BOT_PROBE,
    BOT_TRANSPORT,
    CLOCK,
    OBJECT_STORE,
    SESSIONMAKER,
    SETTINGS,
    TICKETS,
)
from bot.delivery import delivery_loop
from bot.dispatcher import create_bot, create_dispatcher
from bot.inbox import prune_handled
from bot.polling import polling_loop
from bot.processor import RateLimiter, UpdateProcessor
from bot.shutdown import drain
from bot.transport import BotTransport
from bot.webhook import NOT_REGISTERED, register_webhook

log = logging.getLogger(__name__)


async def bot_cleanup_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the bot after the database and object store are open; stop it on shutdown.
    Must be appended after the app's database/object-store contexts."""
    settings = app[SETTINGS]
    sessionmaker, clock = app[SESSIONMAKER], app[CLOCK]
    bot = create_bot(settings)
    dp = create_dispatcher(
        sessionmaker=sessionmaker,
        ticket_service=app[TICKETS],
        object_store=app[OBJECT_STORE],
        settings=settings,
        clock=clock,
    )
    limiter = RateLimiter(settings.bot_rate_per_second, settings.bot_rate_burst)
    processor = UpdateProcessor(dp, bot, sessionmaker, clock, limiter)
    await prune_handled(sessionmaker, clock.now())
    tasks = [
        asyncio.create_task(processor.run(), name="bot-inbox"),
        asyncio.create_task(delivery_loop(bot, sessionmaker, clock), name="bot-delivery"),
    ]
    # Both modes: the admin reaches the bot through it (privacy notices); only webhook mode
    # has a secret, and the webhook route refuses everything without one.
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_url else ""
    app[BOT_TRANSPORT] = BotTransport(bot=bot, processor=processor, secret=secret)
    try:
        if settings.webhook_url:
            # In the background, retried: the admin serves while the Bot API is away.
            app[BOT_PROBE].not_ready = NOT_REGISTERED
            register = register_webhook(
                bot,
                settings.webhook_url,
                secret,
                dp.resolve_used_update_types(),
                app[BOT_PROBE],
            )
            tasks.append(asyncio.create_task(register, name="bot-webhook"))
            log.info("telegram bot started (webhook via %s)", settings.telegram_api_base)
        else:
            polling = polling_loop(
                bot, processor, sessionmaker, clock, dp.resolve_used_update_types()
            )
            tasks.append(asyncio.create_task(polling, name="bot-polling"))
            log.info("telegram bot started (long polling via %s)", settings.telegram_api_base)
        yield
    finally:
        # Graceful: finish in-flight updates, flush the due outbox, close Redis (issue 7).
        await drain(tasks, processor, bot, dp, sessionmaker, clock)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await bot.session.close()
        log.info("telegram bot stopped")
