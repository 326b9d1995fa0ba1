"""Where a customer message goes: never dropped, always part of a ticket (or held until
the customer says which of their open tickets it is for)."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from aiogram import Bot
from aiogram.types import InlineKeyboardMarkup, Message
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.attachments import MediaFile
from bot.callbacks import category_keyboard, pick_keyboard
from bot.office_hours import describe_moment, next_opening
from bot.texts import t
from storage.config import Settings
from storage.models import (
    ContactPerson,
    ReplyChunk,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketMessage,
    UnfiledMessage,
)
from storage.services.audit import Actor
from storage.services.tickets import MAX_TEXT, TicketService

REFERENCE = re.compile(r"\bT-\d{4}-\d{6,}\b")
EMPTY = "[empty message]"


def clean(text: str) -> str:
    """Stored text: never empty, never over the service's limit."""
    text = text.strip() or EMPTY
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 20] + "\n[truncated]"
    return text


def referenced(message: Message, bot: Bot) -> str | None:
    """The ticket reference in the bot message this message replies to, if any."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot.id:
        return None
    found = REFERENCE.search(replied.text or replied.caption or "")
    return found.group(0) if found else None


async def replied_ticket(
    message: Message, bot: Bot, session: AsyncSession, open_tickets: list[Ticket]
) -> Ticket | None:
    """The open ticket a reply-to picks: by the reference in the bot's message, or because
    the replied-to message is an agent reply we delivered on that ticket (any of its chunks:
    a long reply went out as several Telegram messages, reply_chunks)."""
    reference = referenced(message, bot)
    if reference is not None:
        return next((x for x in open_tickets if x.reference == reference), None)
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or replied.from_user.id != bot.id:
        return None
    ticket_id = await session.scalar(
        select(TicketMessage.ticket_id)
        .outerjoin(ReplyChunk, ReplyChunk.message_id == TicketMessage.id)
        .where(
            TicketMessage.telegram_chat_id == message.chat.id,
            or_(
                TicketMessage.telegram_message_id == replied.message_id,
                ReplyChunk.telegram_message_id == replied.message_id,
            ),
        )
        .limit(1)
    )
    return next((x for x in open_tickets if x.id == ticket_id), None)


async def open_new_ticket(
    message: Message,
    text: str,
    *,
    session: AsyncSession,
    contact: ContactPerson,
    ticket_service: TicketService,
    settings: Settings | None = None,
    category: TicketCategory | None = None,
    telegram_message_id: int | None = None,
) -> tuple[Ticket, TicketMessage]:
    """Open a ticket, confirm it (offering categories unless one was chosen) and, outside
    office hours, say when an agent will look at it."""
    lang = contact.language
    ticket, stored = await ticket_service.open_ticket(
        session,
        actor=Actor.customer(contact.id, contact.name),
        channel=TicketChannel.TELEGRAM,
        text=clean(text),
        category=category or TicketCategory.OTHER,
        contact=contact,
        telegram_chat_id=message.chat.id,
        telegram_message_id=telegram_message_id or message.message_id,
    )
    confirmation = t(lang, "ticket_opened", reference=ticket.reference)
    keyboard: InlineKeyboardMarkup | None = None
    if category is None:
        confirmation += "\n\n" + t(lang, "category_ask")
        keyboard = category_keyboard(lang, ticket.id)
    await message.answer(confirmation, reply_markup=keyboard)
    if settings is not None:
        opening = next_opening(
            ticket_service.clock.now(),
            settings.zone,
            settings.office_holidays,
            public_holidays=settings.office_public_holidays,
        )
        if opening is not None:
            await message.answer(t(lang, "after_hours", moment=describe_moment(opening, lang)))
    return ticket, stored


async def file_customer_message(
    message: Message,
    text: str,
    *,
    bot: Bot,
    session: AsyncSession,
    contact: ContactPerson,
    ticket_service: TicketService,
    settings: Settings | None = None,
    telegram_message_id: int | None = None,
) -> tuple[Ticket, TicketMessage]:
    """File a message that must land on a ticket now (media: its attachment needs one).
    With several open tickets and no reply-to it goes to the most recent, and we say so.
    `telegram_message_id`: the customer's message when `message` is only where we answer."""
    lang = contact.language
    open_tickets = await ticket_service.open_tickets_of(session, contact.id)
    if not open_tickets:
        return await open_new_ticket(
            message,
            text,
            session=session,
            contact=contact,
            ticket_service=ticket_service,
            settings=settings,
            telegram_message_id=telegram_message_id,
        )
    chosen = await replied_ticket(message, bot, session, open_tickets)
    target = chosen or open_tickets[0]  # most recent activity first
    stored = await append(
        message,
        clean(text),
        target,
        contact,
        session,
        ticket_service,
        telegram_message_id=telegram_message_id,
    )
    if chosen is not None and len(open_tickets) > 1:
        await message.answer(t(lang, "added_to", reference=target.reference))
    elif chosen is None and len(open_tickets) > 1:
        await message.answer(t(lang, "added_to_recent", reference=target.reference))
    return target, stored


async def ask_ticket_if_ambiguous(
    message: Message,
    note: str,
    media: MediaFile | dict[str, Any] | None,
    *,
    bot: Bot,
    session: AsyncSession,
    contact: ContactPerson,
    ticket_service: TicketService,
) -> bool:
    """With several open tickets and no reply-to, keep a file message (only Telegram's
    reference to the file, or a dict saying why it will not be stored) and ask which ticket;
    True if it was kept unfiled."""
    open_tickets = await ticket_service.open_tickets_of(session, contact.id)
    if len(open_tickets) < 2 or await replied_ticket(message, bot, session, open_tickets):
        return False
    ref = media if media is None or isinstance(media, dict) else asdict(media)
    await _keep_unfiled(message, note, ref, session, contact, ticket_service, open_tickets)
    return True


async def _keep_unfiled(
    message: Message,
    text: str,
    media: dict[str, Any] | None,
    session: AsyncSession,
    contact: ContactPerson,
    ticket_service: TicketService,
    open_tickets: list[Ticket],
) -> None:
    unfiled = UnfiledMessage(
        contact_id=contact.id,
        text=clean(text),
        telegram_chat_id=message.chat.id,
        telegram_message_id=message.message_id,
        media=media,
        created_at=ticket_service.clock.now(),
    )
    session.add(unfiled)
    await session.flush()
    lang = contact.language
    await message.answer(
        t(lang, "which_ticket"), reply_markup=pick_keyboard(lang, unfiled.id, open_tickets)
    )


async def file_text(
    message: Message,
    text: str,
    *,
    bot: Bot,
    session: AsyncSession,
    contact: ContactPerson,
    ticket_service: TicketService,
    settings: Settings,
) -> None:
    """File a text: new ticket, the only open one, the replied-to one; with several open
    tickets and no reply-to, keep it and ask which ticket with buttons."""
    lang = contact.language
    open_tickets = await ticket_service.open_tickets_of(session, contact.id)
    if not open_tickets:
        await open_new_ticket(
            message,
            text,
            session=session,
            contact=contact,
            ticket_service=ticket_service,
            settings=settings,
        )
        return
    if len(open_tickets) == 1:
        await append(message, clean(text), open_tickets[0], contact, session, ticket_service)
        return
    chosen = await replied_ticket(message, bot, session, open_tickets)
    if chosen is not None:
        await append(message, clean(text), chosen, contact, session, ticket_service)
        await message.answer(t(lang, "added_to", reference=chosen.reference))
        return
    await _keep_unfiled(message, text, None, session, contact, ticket_service, open_tickets)


async def append(
    message: Message,
    text: str,
    ticket: Ticket,
    contact: ContactPerson,
    session: AsyncSession,
    ticket_service: TicketService,
    *,
    telegram_message_id: int | None = None,
) -> TicketMessage:
    return await ticket_service.add_customer_message(
        session,
        ticket.id,
        text=text,
        contact_id=contact.id,
        telegram_chat_id=message.chat.id,
        telegram_message_id=telegram_message_id or message.message_id,
    )
