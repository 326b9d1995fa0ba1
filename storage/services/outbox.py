"""Writing to the bot's outbox (storage/models/bot_transport.py: OutboxMessage) inside the
caller's transaction: what is said commits with what caused it, or not at all. The bot's
outbox worker (bot/outbox.py) sends it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ContactPerson, OutboxMessage, Ticket

REPLY = "reply"  # an agent reply (ticket_message_id), sent in chunks
REPLY_EDIT = "reply_edit"  # an edit of a sent reply (message_edit_id)
# A reply on a ticket without a Telegram chat (yet): the worker finds none when it sends,
# and records the reply as undeliverable, as it does for a contact whose chat is gone.
NO_CHAT = 0


def enqueue(
    session: AsyncSession,
    chat_id: int,
    method: str,
    payload: str,
    now: datetime,
    *,
    ticket_message_id: int | None = None,
    message_edit_id: int | None = None,
) -> OutboxMessage:
    row = OutboxMessage(
        chat_id=chat_id,
        method=method,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
        ticket_message_id=ticket_message_id,
        message_edit_id=message_edit_id,
    )
    session.add(row)
    return row


async def ticket_chat(session: AsyncSession, ticket_id: int) -> int | None:
    """The Telegram chat of the ticket's contact, if any."""
    return await session.scalar(
        select(ContactPerson.telegram_chat_id)
        .join(Ticket, Ticket.contact_id == ContactPerson.id)
        .where(Ticket.id == ticket_id)
    )
