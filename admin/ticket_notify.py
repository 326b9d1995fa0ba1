"""Telling the customer in Telegram, in their language, that an agent closed or reopened
their ticket: through the bot's outbox, queued in the agent's transaction (a notice about a
rolled-back close cannot exist), sent behind earlier replies and retried while Telegram is
away. The ticket's state stands whatever Telegram answers."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin.keys import TICKETS
from admin.outbox_notice import notice_text, queue_and_send
from storage.models import ContactPerson, ContactPrivacy, Ticket
from storage.services.audit import Actor

CLOSED = "agent_closed"
REOPENED = "agent_reopened"


async def tell_customer(request: web.Request, db: AsyncSession, ticket: Ticket, key: str) -> None:
    """Queue `key` (CLOSED or REOPENED) for the ticket's contact, if they are on Telegram and
    processing is not restricted (GDPR art. 18: nothing is sent to them)."""
    if ticket.contact_id is None:
        return
    row = (
        await db.execute(
            select(ContactPerson.telegram_chat_id, ContactPerson.language)
            .outerjoin(ContactPrivacy, ContactPrivacy.contact_id == ContactPerson.id)
            .where(ContactPerson.id == ticket.contact_id, ContactPrivacy.restricted_at.is_(None))
        )
    ).first()
    if row is None or row.telegram_chat_id is None:
        return
    text = await notice_text(
        row.language, key, reference=ticket.reference, subject=ticket.subject[:80]
    )
    await queue_and_send(request, db, row.telegram_chat_id, text)


async def close_and_tell(
    request: web.Request, db: AsyncSession, ticket_id: int, actor: Actor
) -> Ticket:
    """Close the ticket; the customer hears of it once: from the close that changed it
    (TicketService.close locks the row, so of two concurrent closes only one did)."""
    ticket, changed = await request.config_dict[TICKETS].close(db, ticket_id, actor=actor)
    if changed:
        await tell_customer(request, db, ticket, CLOSED)
    return ticket


async def reopen_and_tell(
    request: web.Request, db: AsyncSession, ticket_id: int, actor: Actor
) -> Ticket:
    """Reopen the ticket; the customer hears of it once, when it was closed until now."""
    ticket, changed = await request.config_dict[TICKETS].reopen(db, ticket_id, actor=actor)
    if changed:
        await tell_customer(request, db, ticket, REOPENED)
    return ticket
