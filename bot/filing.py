"""Where a customer message goes: never dropped, always part of a ticket."""

from __future__ import annotations

import re

from aiogram import Bot
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.texts import t
from storage.models import ContactPerson, Ticket, TicketChannel, TicketMessage
from storage.services.audit import Actor
from storage.services.tickets import MAX_TEXT, TicketService

REFERENCE = re.compile(r"\bT-\d{4}-\d{6,}\b")


def referenced(message: Message, bot: Bot) -> str | None:
    """The ticket reference in the bot message this message replies to, if any."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot.id:
        return None
    found = REFERENCE.search(replied.text or replied.caption or "")
    return found.group(0) if found else None


async def file_customer_message(
    message: Message,
    text: str,
    *,
    bot: Bot,
    session: AsyncSession,
    contact: ContactPerson,
    ticket_service: TicketService,
) -> tuple[Ticket, TicketMessage]:
    """Open a ticket, or append to the right open one, and tell the customer."""
    text = text.strip() or "[empty message]"
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 20] + "\n[truncated]"
    lang = contact.language
    open_tickets = await ticket_service.open_tickets_of(session, contact.id)
    if not open_tickets:
        ticket, stored = await ticket_service.open_ticket(
            session,
            actor=Actor.customer(contact.id, contact.name),
            channel=TicketChannel.TELEGRAM,
            text=text,
            contact=contact,
            telegram_chat_id=message.chat.id,
            telegram_message_id=message.message_id,
        )
        await message.answer(t(lang, "ticket_opened", reference=ticket.reference))
        return ticket, stored
    reference = referenced(message, bot)
    chosen = next((x for x in open_tickets if x.reference == reference), None)
    target = chosen or open_tickets[0]  # most recent activity first
    stored = await ticket_service.add_customer_message(
        session,
        target.id,
        text=text,
        contact_id=contact.id,
        telegram_chat_id=message.chat.id,
        telegram_message_id=message.message_id,
    )
    if chosen is not None and len(open_tickets) > 1:
        await message.answer(t(lang, "added_to", reference=target.reference))
    elif chosen is None and len(open_tickets) > 1:
        await message.answer(t(lang, "added_to_recent", reference=target.reference))
    return target, stored
