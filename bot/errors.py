"""Last resort: log the failure and tell the customer (the update's transaction was
rolled back by the session middleware)."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ErrorEvent

from bot.texts import DEFAULT_LANGUAGE, language_of, t

log = logging.getLogger(__name__)


def create_router() -> Router:
    router = Router(name="errors")

    @router.errors()
    async def on_error(event: ErrorEvent, bot: Bot) -> None:
        log.error("bot update %s failed", event.update.update_id, exc_info=event.exception)
        message = event.update.message or (
            event.update.callback_query.message if event.update.callback_query else None
        )
        if message is None:
            return
        user = message.from_user if event.update.message else event.update.callback_query.from_user  # type: ignore[union-attr]
        lang = language_of(user.language_code) if user else DEFAULT_LANGUAGE
        try:
            await bot.send_message(message.chat.id, t(lang, "error"))
        except Exception:  # the user must not see a crash loop; it is logged above
            log.warning("could not tell chat %s about the failure", message.chat.id)

    return router
