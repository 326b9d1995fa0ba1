"""Wiring of the Telegram bot: the one place the dispatcher and its routers are built."""

from __future__ import annotations

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import errors, media, start, tickets
from bot.middlewares import ContactMiddleware, DbSessionMiddleware
from storage.clock import Clock
from storage.config import Settings
from storage.objectstore import ObjectStore
from storage.services.tickets import TicketService


def create_dispatcher(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    ticket_service: TicketService,
    object_store: ObjectStore,
    settings: Settings,
    clock: Clock,
    max_media_bytes: int = media.MAX_MEDIA_BYTES,
) -> Dispatcher:
    """A dispatcher with a router per feature; dependencies reach handlers through
    aiogram's DI (workflow_data) by parameter name."""
    dp = Dispatcher(
        sessionmaker=sessionmaker,
        ticket_service=ticket_service,
        object_store=object_store,
        settings=settings,
        clock=clock,
    )
    # Outer update middlewares run after aiogram's own (errors, user context), in order.
    dp.update.outer_middleware(DbSessionMiddleware(sessionmaker))
    dp.update.outer_middleware(ContactMiddleware())
    # Support happens in private chats only; group chatter never becomes a ticket.
    dp.message.filter(F.chat.type == "private")
    dp.include_routers(
        errors.create_router(),
        start.create_router(),
        tickets.create_router(),
        media.create_router(max_media_bytes),
    )
    return dp


def create_bot(settings: Settings) -> Bot:
    """A Bot talking to SUPPORTDESK_TELEGRAM_API_BASE (telegram, self-hosted or a fake)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    return Bot(token=settings.telegram_token.get_secret_value(), session=session)
