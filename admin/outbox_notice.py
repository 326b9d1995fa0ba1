"""A notice from the desk to a customer's Telegram chat through the bot's outbox
(bot/outbox.py): queued in the caller's transaction, so it exists exactly when the change it
announces does, then sent in the chat's order (behind earlier replies) and retried until
Telegram takes it."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from admin.keys import BOT_TRANSPORT, CLOCK, SESSIONMAKER
from bot.outbox import deliver_row
from bot.texts import create_i18n, translate
from storage.models import OutboxState
from storage.services import outbox

log = logging.getLogger(__name__)


async def notice_text(language: str, key: str, **values: object) -> str:
    i18n = await asyncio.to_thread(create_i18n)  # .mo files: off the event loop
    return translate(i18n, language, key, **values)


async def queue_and_send(
    request: web.Request, db: AsyncSession, chat_id: int, text: str
) -> OutboxState | None:
    """Queue the notice with the caller's change, commit both, then try to send it at once
    (the delivery loop retries). None: no bot runs in this process, nothing was queued."""
    transport = request.config_dict.get(BOT_TRANSPORT)
    if transport is None:
        return None
    clock = request.config_dict[CLOCK]
    payload = json.dumps({"chat_id": chat_id, "text": text})
    row = outbox.enqueue(db, chat_id, "sendMessage", payload, clock.now())
    await db.commit()  # ends the transaction: no lock is kept during the Bot API call
    sessionmaker = request.config_dict[SESSIONMAKER]
    try:
        state = await deliver_row(transport.bot, sessionmaker, clock, row.id)
    except Exception as exc:  # queued and committed: the delivery loop sends it
        log.warning("notice to chat %s not sent now: %s", chat_id, type(exc).__name__)
        return OutboxState.PENDING
    # None: behind an earlier message of the chat (or taken by another instance).
    return OutboxState.PENDING if state is None else state
