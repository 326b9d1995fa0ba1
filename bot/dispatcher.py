"""Wiring of the Telegram bot: the one place the dispatcher and its routers are built."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import conversation, customer_edits, errors, media, new_ticket, retry, start, tickets
from bot import privacy as privacy_router
from bot.filters import Magic
from bot.i18n import ContactI18nMiddleware
from bot.local_files import LocalBotApiFiles
from bot.middlewares import ContactMiddleware, DbSessionMiddleware
from bot.observe import UpdateLogMiddleware
from bot.scaling import fsm_backends
from bot.texts import create_i18n
from storage.clock import Clock
from storage.config import Settings
from storage.objectstore import ObjectStore
from storage.services.linking import LinkCodeService
from storage.services.message_edits import MessageEditService
from storage.services.tickets import TicketService


def create_dispatcher(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    ticket_service: TicketService,
    object_store: ObjectStore,
    settings: Settings,
    clock: Clock,
    max_media_bytes: int | None = None,
) -> Dispatcher:
    """A dispatcher with a router per feature; dependencies reach handlers through
    aiogram's DI (workflow_data) by parameter name."""
    i18n = create_i18n()
    dp = Dispatcher(
        **fsm_backends(settings),
        i18n=i18n,
        link_codes=LinkCodeService(clock),
        message_edits=MessageEditService(clock),
        sessionmaker=sessionmaker,
        ticket_service=ticket_service,
        object_store=object_store,
        settings=settings,
        clock=clock,
    )
    # Outer update middlewares run after aiogram's own (errors, user context), in order.
    dp.update.outer_middleware(UpdateLogMiddleware())
    dp.update.outer_middleware(DbSessionMiddleware(sessionmaker))
    dp.update.outer_middleware(ContactMiddleware())
    dp.update.outer_middleware(ContactI18nMiddleware(i18n))
    # Support happens in private chats only; group chatter never becomes a ticket.
    dp.message.filter(Magic(F.chat.type == "private"))
    dp.include_routers(
        errors.create_router(),
        start.create_router(),
        privacy_router.create_router(),  # before the routers that file any text
        new_ticket.create_router(),
        conversation.create_router(),
        customer_edits.create_router(),
        tickets.create_router(),
        media.create_router(max_media_bytes or settings.bot_media_max_bytes),
    )
    return dp


def create_bot(settings: Settings) -> Bot:
    """A Bot talking to SUPPORTDESK_TELEGRAM_API_BASE (telegram, self-hosted or a fake)."""
    local: dict[str, Any] = {}
    if settings.telegram_api_local_dir:
        local_dir = Path(settings.telegram_api_local_dir)
        server_dir = Path(settings.telegram_api_server_dir or local_dir)
        local = {"is_local": True, "wrap_local_file": LocalBotApiFiles(server_dir, local_dir)}
    api = TelegramAPIServer.from_base(settings.telegram_api_base, **local)
    session = AiohttpSession(api=api)
    retry.install(session)  # 429: wait retry_after and resend, for every call
    return Bot(token=settings.telegram_token.get_secret_value(), session=session)
