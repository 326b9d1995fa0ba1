"""The one note a customer gets when their update failed and waits in the inbox for an
automatic retry: it arrived and will be handled, so there is no need to send it again (a
"please try again" would make them resend and open a second ticket)."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.types import Update
from aiogram.utils.i18n import I18n

from bot.texts import create_i18n, language_of, translate

log = logging.getLogger(__name__)


def _chat_and_language(update: Update) -> tuple[int, str] | None:
    query = update.callback_query
    message = update.message or update.edited_message or (query.message if query else None)
    if message is None or message.chat.type != "private":
        return None
    user = query.from_user if query is not None else message.from_user
    return message.chat.id, language_of(user.language_code if user is not None else None)


async def tell_received(bot: Bot, update: Update, i18n: I18n | None = None) -> None:
    """`i18n`: the dispatcher's catalogs (dp["i18n"]). This runs after the update's handling,
    outside its I18n context; without them the catalogs are loaded here (once per failed
    update, off the event loop). The language is the client's: the contact's stored one went
    with the rolled-back transaction."""
    target = _chat_and_language(update)
    if target is None:
        return
    chat_id, lang = target
    try:
        if i18n is None:
            i18n = await asyncio.to_thread(create_i18n)
        await bot.send_message(chat_id, translate(i18n, lang, "update_received"))
    except Exception as exc:  # best effort: the update itself is safe in the inbox
        log.warning("could not tell chat %s its update is queued: %s", chat_id, type(exc).__name__)
