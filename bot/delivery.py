"""Agent replies to the customer's Telegram chat, sent by the outbox worker (bot/outbox.py)
for the outbox's REPLY rows; the reply's delivery fields mirror its row."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
)
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.telegram_text import split_text
from bot.texts import create_i18n, translate
from storage.models import (
    ContactPerson,
    ContactPrivacy,
    DeliveryState,
    ReplyChunk,
    Ticket,
    TicketMessage,
    TicketStatus,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(hours=1)


def undeliverable(exc: Exception) -> bool:
    if isinstance(exc, TelegramForbiddenError | TelegramNotFound):
        return True
    if isinstance(exc, TelegramBadRequest):
        message = exc.message.lower()
        return "chat not found" in message or "user is deactivated" in message
    return False


class Undeliverable(Exception):
    """Nothing to send to: no chat, or the contact restricted processing (GDPR art. 18)."""


async def send_reply(
    bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], message_id: int
) -> int:
    """Send an agent reply (the outbox's REPLY row, bot/outbox.py); returns the Telegram id
    of its first chunk. A reply over 4096 characters goes out in chunks, each recorded as
    soon as it is sent, so a retry after a failed (or crashed) later chunk sends only the
    rest. A 429 is waited out by the session's RetryAfterMiddleware (bot/retry.py); what
    raises here is a failed attempt, which the outbox records."""
    async with sessionmaker() as session:
        message = await session.get(TicketMessage, message_id)
        if message is None:
            raise Undeliverable("the reply was removed")
        chat_id = await session.scalar(
            select(ContactPerson.telegram_chat_id)
            .join(Ticket, Ticket.contact_id == ContactPerson.id)
            .outerjoin(ContactPrivacy, ContactPrivacy.contact_id == ContactPerson.id)
            .where(Ticket.id == message.ticket_id, ContactPrivacy.restricted_at.is_(None))
        )
        sent = list(
            await session.scalars(
                select(ReplyChunk.telegram_message_id)
                .where(ReplyChunk.message_id == message_id)
                .order_by(ReplyChunk.position)
            )
        )
        # A retry after some chunks went out keeps the heading they went out with.
        heading = message.sent_heading if sent else None
        if chat_id is not None and heading is None:
            heading = await reference_heading(session, message.ticket_id)
        text = with_heading(heading or "", message.text)
    if chat_id is None:
        raise Undeliverable("the contact has no Telegram chat (or restricted processing)")
    chunks = split_text(text)  # by Telegram's UTF-16 units, at paragraph/sentence/word ends
    for position in range(len(sent), len(chunks)):
        telegram_id = (await bot.send_message(chat_id, chunks[position])).message_id
        sent.append(telegram_id)
        async with sessionmaker() as session:
            chunk = ReplyChunk(
                message_id=message_id, position=position, telegram_message_id=telegram_id
            )
            session.add(chunk)
            if position == 0:  # an edit repeats it (bot/reply_edit_delivery.py)
                await session.execute(
                    update(TicketMessage)
                    .where(TicketMessage.id == message_id)
                    .values(sent_heading=heading or "")
                )
            await session.commit()
    return sent[0]


def with_heading(heading: str, text: str) -> str:
    return f"{heading}\n\n{text}" if heading else text


async def reference_heading(session: AsyncSession, ticket_id: int) -> str:
    """With several open tickets the customer cannot tell which one an answer is about: the
    reply then starts with the ticket's reference, in the customer's language ('' else)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.contact_id is None or not ticket.reference:
        return ""
    open_tickets = await session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.contact_id == ticket.contact_id, Ticket.status != TicketStatus.CLOSED)
    )
    if (open_tickets or 0) < 2:
        return ""
    language = await session.scalar(
        select(ContactPerson.language).where(ContactPerson.id == ticket.contact_id)
    )
    i18n = await asyncio.to_thread(create_i18n)  # .mo files: off the event loop
    return translate(i18n, language or "", "reply_reference", reference=ticket.reference)


def record_reply(
    message: TicketMessage,
    *,
    attempts: int,
    state: DeliveryState,
    error: str | None,
    retry_at: datetime | None,
    failing_since: datetime | None,
    chat_id: int,
    telegram_id: int | None,
) -> None:
    """Mirror the outbox row's outcome on the reply: what the ticket page and API show."""
    message.delivery_attempts = attempts
    message.delivery_state = state
    message.delivery_error = error
    message.next_attempt_at = retry_at
    message.delivery_failing_since = failing_since
    if telegram_id is not None:
        message.telegram_message_id = telegram_id  # replies to the reply match on it
        message.telegram_chat_id = chat_id
