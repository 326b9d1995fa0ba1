"""Delivery worker: sends agent replies (TicketMessage rows with delivery_state PENDING, the
outbox) to the customer's Telegram chat. Only this worker talks to Telegram for replies."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.clock import Clock
from storage.db import is_postgres
from storage.models import (
    ContactPerson,
    ContactPrivacy,
    DeliveryState,
    ReplyChunk,
    Ticket,
    TicketMessage,
)

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096
MAX_ATTEMPTS = 10
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(hours=1)


def split_text(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Chunks of at most `limit` characters, cut at a line break or space when possible."""
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n ") if cut < limit else text[cut:]
    if text or not chunks:
        chunks.append(text)
    return chunks


def undeliverable(exc: Exception) -> bool:
    if isinstance(exc, TelegramForbiddenError | TelegramNotFound):
        return True
    if isinstance(exc, TelegramBadRequest):
        message = exc.message.lower()
        return "chat not found" in message or "user is deactivated" in message
    return False


async def _due_ids(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, limit: int
) -> list[int]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(TicketMessage.id)
            .where(
                TicketMessage.delivery_state == DeliveryState.PENDING,
                TicketMessage.next_attempt_at <= clock.now(),
            )
            .order_by(TicketMessage.id)
            .limit(limit)
        )
        return list(rows)


CLAIM_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Claim:
    attempt: int
    chat_id: int | None
    text: str
    sent_chunks: list[int]  # Telegram ids of chunks an earlier attempt already sent


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, message_id: int
) -> Claim | None:
    """Take one due outbox row: count the attempt and push next_attempt_at a lease ahead, so
    another worker skips it while we send and a crash mid-send retries it after the lease.
    None if the row is no longer due."""
    async with sessionmaker() as session:
        stmt = select(TicketMessage).where(
            TicketMessage.id == message_id,
            TicketMessage.delivery_state == DeliveryState.PENDING,
            TicketMessage.next_attempt_at <= clock.now(),
        )
        if is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        message = await session.scalar(stmt.execution_options(populate_existing=True))
        if message is None:
            return None
        chat_id = await session.scalar(
            select(ContactPerson.telegram_chat_id)
            .join(Ticket, Ticket.contact_id == ContactPerson.id)
            .outerjoin(ContactPrivacy, ContactPrivacy.contact_id == ContactPerson.id)
            # Restricted processing (GDPR art. 18): nothing is sent to them.
            .where(Ticket.id == message.ticket_id, ContactPrivacy.restricted_at.is_(None))
        )
        sent_chunks = await session.scalars(
            select(ReplyChunk.telegram_message_id)
            .where(ReplyChunk.message_id == message_id)
            .order_by(ReplyChunk.position)
        )
        message.delivery_attempts += 1
        message.next_attempt_at = clock.now() + CLAIM_LEASE
        claim = Claim(message.delivery_attempts, chat_id, message.text, list(sent_chunks))
        await session.commit()
        return claim


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    message_id: int,
    attempt: int,
    apply: Callable[[AsyncSession, TicketMessage], None],
) -> DeliveryState | None:
    async with sessionmaker() as session:
        message = await session.scalar(
            select(TicketMessage)
            .where(TicketMessage.id == message_id)
            .execution_options(populate_existing=True)
        )
        # Someone else re-claimed the row after our lease ran out: their result wins.
        if message is None or message.delivery_attempts != attempt:
            return None
        apply(session, message)
        state = message.delivery_state
        await session.commit()
        return state


def _chunk(position: int, telegram_id: int) -> Callable[[AsyncSession, TicketMessage], None]:
    def add(session: AsyncSession, message: TicketMessage) -> None:
        session.add(
            ReplyChunk(message_id=message.id, position=position, telegram_message_id=telegram_id)
        )

    return add


async def deliver_one(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    message_id: int,
) -> DeliveryState | None:
    """Deliver one outbox row: claim it, send with no transaction open, record the outcome.
    None if it is no longer due."""
    claim = await _claim(sessionmaker, clock, message_id)
    if claim is None:
        return None
    attempt, chat_id = claim.attempt, claim.chat_id

    if chat_id is None:

        def no_chat(_: AsyncSession, message: TicketMessage) -> None:
            message.delivery_state = DeliveryState.UNDELIVERABLE
            message.delivery_error = "the contact has no Telegram chat (or restricted processing)"
            message.next_attempt_at = None

        return await _record(sessionmaker, message_id, attempt, no_chat)

    # A reply over 4096 characters goes out in chunks. Each but the last is recorded as soon
    # as it is sent, so a retry after a failed (or crashed) later chunk sends only the rest.
    chunks = split_text(claim.text)
    telegram_ids = list(claim.sent_chunks)
    try:
        for position in range(len(telegram_ids), len(chunks)):
            # A 429 is waited out and resent by the session's RetryAfterMiddleware
            # (bot/retry.py), the only retry layer; what fails here is a failed attempt.
            sent_id = (await bot.send_message(chat_id, chunks[position])).message_id
            telegram_ids.append(sent_id)
            if position < len(chunks) - 1:
                await _record(sessionmaker, message_id, attempt, _chunk(position, sent_id))
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("delivery of message %s failed: %s", message_id, error)
        retry_at: datetime | None = None
        if undeliverable(exc):
            final_state: DeliveryState | None = DeliveryState.UNDELIVERABLE
        elif attempt >= MAX_ATTEMPTS:
            final_state = DeliveryState.FAILED
        else:
            final_state = None
            if isinstance(exc, TelegramRetryAfter):
                delay = timedelta(seconds=exc.retry_after)
            else:
                delay = min(BACKOFF_BASE * 2 ** (attempt - 1), BACKOFF_MAX)
            retry_at = clock.now() + delay

        def failed(_: AsyncSession, message: TicketMessage) -> None:
            message.delivery_error = error
            message.next_attempt_at = retry_at
            if final_state is not None:
                message.delivery_state = final_state

        return await _record(sessionmaker, message_id, attempt, failed)

    def sent(session: AsyncSession, message: TicketMessage) -> None:
        message.telegram_message_id = telegram_ids[0]  # replies to the reply match on it
        last = len(telegram_ids) - 1
        _chunk(last, telegram_ids[last])(session, message)
        message.telegram_chat_id = chat_id
        message.delivery_state = DeliveryState.SENT
        message.delivery_error = None
        message.next_attempt_at = None

    return await _record(sessionmaker, message_id, attempt, sent)


async def deliver_pending(
    bot: Bot,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    limit: int = 20,
) -> int:
    """Deliver up to `limit` due outbox rows, oldest first; returns how many were handled."""
    handled = 0
    for message_id in await _due_ids(sessionmaker, clock, limit):
        if await deliver_one(bot, sessionmaker, clock, message_id) is not None:
            handled += 1
    return handled
