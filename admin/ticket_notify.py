"""Telling the customer in Telegram, in their language, that an agent closed or reopened
their ticket. After the agent's change is committed (a notice about a rolled-back close
would be false), best effort: the ticket's state stands whether or not Telegram answers."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin.keys import BOT_TRANSPORT
from bot.texts import create_i18n, translate
from storage.models import ContactPerson, ContactPrivacy, Ticket

log = logging.getLogger(__name__)

CLOSED = "agent_closed"
REOPENED = "agent_reopened"


async def tell_customer(request: web.Request, db: AsyncSession, ticket: Ticket, key: str) -> None:
    """Send `key` (CLOSED or REOPENED) to the ticket's contact, if they are on Telegram and
    processing is not restricted (GDPR art. 18: nothing is sent to them)."""
    transport = request.config_dict.get(BOT_TRANSPORT)
    if transport is None or ticket.contact_id is None:
        return
    row = (
        await db.execute(
            select(ContactPerson.telegram_chat_id, ContactPerson.language)
            .outerjoin(ContactPrivacy, ContactPrivacy.contact_id == ContactPerson.id)
            .where(ContactPerson.id == ticket.contact_id, ContactPrivacy.restricted_at.is_(None))
        )
    ).first()
    reference, subject = ticket.reference, ticket.subject[:80]
    # End the transaction first: the change is committed, and SQLite keeps no lock meanwhile.
    await db.commit()
    if row is None or row.telegram_chat_id is None:
        return
    try:
        i18n = await asyncio.to_thread(create_i18n)  # .mo files: off the event loop
        text = translate(i18n, row.language, key, reference=reference, subject=subject)
        await transport.bot.send_message(row.telegram_chat_id, text)
    except Exception as exc:  # the close stands; the agent's page is not the place to fail
        log.warning("ticket notice to chat %s failed: %s", row.telegram_chat_id, type(exc).__name__)
