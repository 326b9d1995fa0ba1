"""Last resort: log the failure and tell the customer (the update's transaction was
rolled back by the session middleware)."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.types import ErrorEvent
from aiogram.utils.i18n import I18n

from bot.texts import DEFAULT_LANGUAGE, language_of, t

log = logging.getLogger(__name__)


def create_router() -> Router:
    router = Router(name="errors")

    @router.errors()
    async def on_error(
        event: ErrorEvent, bot: Bot, i18n: I18n, inbox_attempts: int | None = None
    ) -> None:
        log.error("bot update %s failed", event.update.update_id, exc_info=event.exception)
        if inbox_attempts is not None:  # kept for an automatic retry: bot/inbox_notice.py
            return
        update = event.update
        query = update.callback_query
        message = update.message or update.edited_message or (query.message if query else None)
        if message is None:
            return
        user = query.from_user if query is not None else message.from_user
        # The contact's stored language went with the rolled-back session; the client's
        # language is the best we still know.
        lang = language_of(user.language_code) if user else DEFAULT_LANGUAGE
        try:
            with i18n.context():
                await bot.send_message(message.chat.id, t(lang, "error"))
        except Exception:  # the user must not see a crash loop; it is logged above
            log.warning("could not tell chat %s about the failure", message.chat.id)

    return router
