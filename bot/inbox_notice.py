"""The one note a customer gets when their update failed and waits in the inbox for an
automatic retry: it arrived and will be handled, so there is no need to send it again (a
"please try again" would make them resend and open a second ticket)."""

from __future__ import annotations

import asyncio

from aiogram.methods import SendMessage
from aiogram.types import Update
from aiogram.utils.i18n import I18n

from bot.texts import create_i18n, language_of, translate


def _chat_and_language(update: Update) -> tuple[int, str] | None:
    query = update.callback_query
    message = update.message or update.edited_message or (query.message if query else None)
    if message is None or message.chat.type != "private":
        return None
    user = query.from_user if query is not None else message.from_user
    return message.chat.id, language_of(user.language_code if user is not None else None)


async def received_notice(update: Update, i18n: I18n | None = None) -> SendMessage | None:
    """The note for the update's private chat, None without one. `i18n`: the dispatcher's
    catalogs (dp["i18n"]). This runs after the update's handling, outside its I18n context;
    without them the catalogs are loaded here (once per failed update, off the event loop).
    The language is the client's: the contact's stored one went with the rolled-back
    transaction. The processor sends it through the outbox (bot/outbox.py)."""
    target = _chat_and_language(update)
    if target is None:
        return None
    chat_id, lang = target
    if i18n is None:
        i18n = await asyncio.to_thread(create_i18n)
    return SendMessage(chat_id=chat_id, text=translate(i18n, lang, "update_received"))
