"""Update-level middlewares: one database session per update, then the contact."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.contacts import resolve_contact
from storage.clock import Clock

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """Opens one AsyncSession per update; commits after the handler, rolls back on error."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessionmaker() as session:
            data["session"] = session
            try:
                result = await handler(event, data)
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
            return result


class ContactMiddleware(BaseMiddleware):
    """Resolves (creates on first contact) the ContactPerson of the update's user."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        chat = data.get("event_chat")
        private = chat is None or chat.type == "private"
        if user is not None and not user.is_bot and private:
            clock: Clock = data["clock"]
            contact = await resolve_contact(data["session"], clock, user, data.get("event_chat"))
            data["contact"] = contact
            data["lang"] = contact.language
        return await handler(event, data)
