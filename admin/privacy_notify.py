"""Telling the requester in Telegram that a privacy request is done or its export is ready:
through the bot's outbox, queued in the officer's transaction (a message about a rolled-back
outcome cannot exist), sent in the chat's order and retried while Telegram is away. The
result comes back as a notice code for the officer's page."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from admin.outbox_notice import notice_text, queue_and_send
from storage.models import ContactPerson, OutboxState, PrivacyRequest, RequestStatus
from storage.services.privacy import deliverable_export

# Notice codes (table "privacy_notice" in admin/labels.py).
TOLD = "told"
QUEUED = "tell_queued"
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
    chat, language = target
    text = await notice_text(language, key, **values)
    state = await queue_and_send(request, db, chat, text)
    if state is None:
        return NO_BOT
    if state == OutboxState.SENT:
        return TOLD
    if state == OutboxState.PENDING:  # Telegram is away: sent when it is back
        return QUEUED
    return FAILED  # Telegram refused it (no such chat): the outcome stands all the same


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
