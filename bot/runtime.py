"""Running the bot inside `supportdesk serve`: webhook (SUPPORTDESK_WEBHOOK_URL set) or long
polling, the inbox processor, the delivery worker and the filing of unfiled messages. The
admin app starts and stops it (a cleanup context) and passes in everything it needs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery_worker import delivery_loop
from bot.dispatcher import create_bot, create_dispatcher
from bot.inbox import prune_handled
from bot.outbox import prune_sent
from bot.polling import polling_loop
from bot.probe import BotProbe
from bot.processor import RateLimiter, UpdateProcessor
from bot.shutdown import drain
from bot.texts import FiledNoticeText, create_i18n
from bot.transport import BotTransport
from bot.unfiled import HeldFileFetcher, TicketQuestionAgain, unfiled_loop
from bot.webhook import NOT_REGISTERED, register_webhook
from storage.clock import Clock
from storage.config import Settings
from storage.objectstore import ObjectStore
from storage.services.tickets import TicketService

log = logging.getLogger(__name__)


class BotRuntime:
    """The bot with its workers. The caller starts it after the database and object store
    are open and stops it before they close (the admin app: a cleanup context)."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        ticket_service: TicketService,
        object_store: ObjectStore,
        probe: BotProbe,
    ) -> None:
        self.settings, self.sessionmaker, self.clock = settings, sessionmaker, clock
        self.ticket_service, self.object_store, self.probe = ticket_service, object_store, probe
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> BotTransport:
        """Start the workers; the transport is how the admin reaches the running bot."""
        settings, sessionmaker, clock = self.settings, self.sessionmaker, self.clock
        self.bot = bot = create_bot(settings)
        self.dp = dp = create_dispatcher(
            sessionmaker=sessionmaker,
            ticket_service=self.ticket_service,
            object_store=self.object_store,
            settings=settings,
            clock=clock,
        )
        limiter = RateLimiter(settings.bot_rate_per_second, settings.bot_rate_burst)
        self.processor = processor = UpdateProcessor(dp, bot, sessionmaker, clock, limiter)
        await prune_handled(sessionmaker, clock.now())
        await prune_sent(sessionmaker, clock.now())
        tasks = self._tasks
        tasks.append(asyncio.create_task(processor.run(), name="bot-inbox"))
        tasks.append(
            asyncio.create_task(delivery_loop(bot, sessionmaker, clock), name="bot-delivery")
        )
        i18n = await asyncio.to_thread(create_i18n)  # .mo files: off the loop
        unfiled = unfiled_loop(
            sessionmaker,
            self.ticket_service,
            clock,
            FiledNoticeText(i18n),
            TicketQuestionAgain(i18n),
            files=HeldFileFetcher(
                bot, self.object_store, clock, i18n, settings.bot_media_max_bytes
            ),
            wait=timedelta(minutes=settings.unfiled_after),
        )
        tasks.append(asyncio.create_task(unfiled, name="bot-unfiled"))
        # Both modes: the admin reaches the bot through it (privacy notices); only webhook
        # mode has a secret, and the webhook route refuses everything without one.
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_url else ""
        transport = BotTransport(bot=bot, processor=processor, secret=secret)
        try:
            if settings.webhook_url:
                # In the background, retried: the admin serves while the Bot API is away.
                self.probe.not_ready = NOT_REGISTERED
                register = register_webhook(
                    bot,
                    settings.webhook_url,
                    secret,
                    dp.resolve_used_update_types(),
                    self.probe,
                )
                tasks.append(asyncio.create_task(register, name="bot-webhook"))
                log.info("telegram bot started (webhook via %s)", settings.telegram_api_base)
            else:
                polling = polling_loop(
                    bot, processor, sessionmaker, clock, dp.resolve_used_update_types()
                )
                tasks.append(asyncio.create_task(polling, name="bot-polling"))
                log.info(
                    "telegram bot started (long polling via %s)", settings.telegram_api_base
                )
        except BaseException:
            await self.stop()
            raise
        return transport

    async def stop(self) -> None:
        """Graceful: finish in-flight updates, flush the due outbox, close Redis."""
        tasks, sessionmaker, clock = self._tasks, self.sessionmaker, self.clock
        await drain(tasks, self.processor, self.bot, self.dp, sessionmaker, clock)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.bot.session.close()
        log.info("telegram bot stopped")
