"""The one note a customer gets when their update failed and waits in the inbox for an
automatic retry: it arrived and will be handled, so there is no need to send it again (a
"please try again" would make them resend and open a second ticket)."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.types import Update

from bot.texts import language_of

log = logging.getLogger(__name__)

# Local texts, Dutch first; the language is the client's (the contact's stored one went
# with the rolled-back transaction).
RECEIVED = {
    "nl": "Wij hebben uw bericht ontvangen en verwerken het zo snel mogelijk. "
    "U hoeft het niet opnieuw te sturen.",
    "en": "We have received your message and will process it shortly. "
    "There is no need to send it again.",
}


def _chat_and_language(update: Update) -> tuple[int, str] | None:
    query = update.callback_query
    message = update.message or update.edited_message or (query.message if query else None)
    if message is None or message.chat.type != "private":
        return None
    user = query.from_user if query is not None else message.from_user
    return message.chat.id, language_of(user.language_code if user is not None else None)


async def tell_received(bot: Bot, update: Update) -> None:
    target = _chat_and_language(update)
    if target is None:
        return
    chat_id, lang = target
    try:
        await bot.send_message(chat_id, RECEIVED[lang])
    except Exception as exc:  # best effort: the update itself is safe in the inbox
        log.warning("could not tell chat %s its update is queued: %s", chat_id, type(exc).__name__)
