"""Telling the requester in Telegram that a privacy request is done or its export is ready.
Runs after the officer's change is committed (a message about a rolled-back outcome would
be false), best effort: the result comes back as a notice code for the officer's page."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from admin.keys import BOT_TRANSPORT
from bot.texts import create_i18n, translate
from storage.models import ContactPerson, PrivacyRequest, RequestStatus
from storage.services.privacy import deliverable_export

log = logging.getLogger(__name__)

# Notice codes (table "privacy_notice" in admin/labels.py).
TOLD = "told"
FAILED = "tell_failed"
NO_BOT = "no_bot"
NO_CHAT = "no_chat"
NOT_READY = "export_waits"


async def _target(db: AsyncSession, item: PrivacyRequest) -> tuple[int, str] | None:
    """The requester's private chat and language; None when they are not reachable there
    (a letter or phone request, or the Telegram id went with an erasure)."""
    contact = await db.get(ContactPerson, item.contact_id) if item.contact_id else None
    chat = item.telegram_user_id or (contact.telegram_user_id if contact else None)
    if chat is None:
        return None
    return chat, contact.language if contact is not None else "nl"


async def _send(
    request: web.Request, db: AsyncSession, target: tuple[int, str], key: str, **values: object
) -> str:
    transport = request.config_dict.get(BOT_TRANSPORT)
    if transport is None:
        return NO_BOT
    # End the read transaction first: SQLite would keep its lock during the Bot API call.
    await db.commit()
    chat, language = target
    try:
        i18n = await asyncio.to_thread(create_i18n)  # .mo files: off the event loop
        await transport.bot.send_message(chat, translate(i18n, language, key, **values))
    except Exception as exc:  # the outcome stands; the officer informs the customer otherwise
        log.warning("privacy notice to chat %s failed: %s", chat, type(exc).__name__)
        return FAILED
    return TOLD


async def tell_outcome(request: web.Request, db: AsyncSession, item: PrivacyRequest) -> str:
    target = await _target(db, item)
    if target is None:
        return NO_CHAT
    key = "privacy_done" if item.status == RequestStatus.DONE else "privacy_rejected"
    return await _send(request, db, target, key, id=item.id, outcome=item.outcome)


async def tell_export_ready(request: web.Request, db: AsyncSession, item: PrivacyRequest) -> str:
    if item.contact_id is None or await deliverable_export(db, item.contact_id) is None:
        return NOT_READY  # not verified yet: told when the identity is verified
    target = await _target(db, item)
    if target is None:
        return NO_CHAT
    return await _send(request, db, target, "privacy_export_ready", id=item.id)
