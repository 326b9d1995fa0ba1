"""Edits of sent agent replies, carried to the customer's chat. Called from the delivery
loop next to the reply outbox: message_edits rows in delivery_state PENDING are the queue."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    CLAIM_LEASE,
    MAX_ATTEMPTS,
    _undeliverable,
    split_text,
)
from storage.clock import Clock
from storage.models import ContactPrivacy, DeliveryState, MessageEdit, Ticket, TicketMessage

log = logging.getLogger(__name__)


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, edit_id: int
) -> tuple[int, int, int, str] | None:
    """(attempt, chat id, Telegram message id, current text) of a due edit whose reply has
    been sent; None otherwise. The lease keeps other workers off it while we call Telegram."""
    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(MessageEdit, TicketMessage, ContactPrivacy.restricted_at)
                .join(TicketMessage, TicketMessage.id == MessageEdit.message_id)
                .join(Ticket, Ticket.id == TicketMessage.ticket_id)
                .outerjoin(ContactPrivacy, ContactPrivacy.contact_id == Ticket.contact_id)
                .where(
                    MessageEdit.id == edit_id,
                    MessageEdit.delivery_state == DeliveryState.PENDING,
                    MessageEdit.next_attempt_at <= clock.now(),
                    TicketMessage.delivery_state == DeliveryState.SENT,
                )
                .execution_options(populate_existing=True)
            )
        ).one_or_none()
        if row is None:
            return None
        edit, reply, restricted_at = row
        # Restricted processing (GDPR art. 18) stops edits too, like new replies.
        if (
            restricted_at is not None
            or reply.telegram_chat_id is None
            or reply.telegram_message_id is None
        ):
            edit.delivery_state = DeliveryState.UNDELIVERABLE
            edit.next_attempt_at = None
            await session.commit()
            return None
        edit.delivery_attempts += 1
        edit.next_attempt_at = clock.now() + CLAIM_LEASE
        # The reply's current text: several quick edits end in the last one.
        claim = (
            edit.delivery_attempts,
            reply.telegram_chat_id,
            reply.telegram_message_id,
            reply.text,
        )
        await session.commit()
        return claim


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    edit_id: int,
    attempt: int,
    state: DeliveryState | None,
    error: str | None,
    retry_in: timedelta | None,
    clock: Clock,
) -> None:
    async with sessionmaker() as session:
        edit = await session.get(MessageEdit, edit_id, populate_existing=True)
        if edit is None or edit.delivery_attempts != attempt:
            return
        if state is not None:
            edit.delivery_state = state
        edit.delivery_error = error
        edit.next_attempt_at = clock.now() + retry_in if retry_in is not None else None
        await session.commit()


async def deliver_edit(
    bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, edit_id: int
) -> bool:
    """Edit one sent reply in the chat; False when the edit was not due."""
    claim = await _claim(sessionmaker, clock, edit_id)
    if claim is None:
        return False
    attempt, chat_id, telegram_id, text = claim
    try:
        # A long reply went out in chunks; the first chunk is the message we can edit.
        await bot.edit_message_text(
            text=split_text(text)[0], chat_id=chat_id, message_id=telegram_id
        )
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        if isinstance(exc, TelegramBadRequest) and "not modified" in exc.message.lower():
            await _record(sessionmaker, edit_id, attempt, DeliveryState.SENT, None, None, clock)
            return True
        log.warning("edit %s of a reply failed: %s", edit_id, error)
        state: DeliveryState | None = None
        retry_in: timedelta | None = None
        if _undeliverable(exc) or isinstance(exc, TelegramBadRequest):
            state = DeliveryState.UNDELIVERABLE
        elif attempt >= MAX_ATTEMPTS:
            state = DeliveryState.FAILED
        elif isinstance(exc, TelegramRetryAfter):
            retry_in = timedelta(seconds=exc.retry_after)
        else:
            retry_in = min(BACKOFF_BASE * 2 ** (attempt - 1), BACKOFF_MAX)
        await _record(sessionmaker, edit_id, attempt, state, error, retry_in, clock)
        return True
    await _record(sessionmaker, edit_id, attempt, DeliveryState.SENT, None, None, clock)
    return True


async def deliver_pending_edits(
    bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, limit: int = 20
) -> int:
    """Carry up to `limit` due edits to Telegram, oldest first; how many were handled."""
    async with sessionmaker() as session:
        ids = list(
            await session.scalars(
                select(MessageEdit.id)
                .join(TicketMessage, TicketMessage.id == MessageEdit.message_id)
                .where(
                    MessageEdit.delivery_state == DeliveryState.PENDING,
                    MessageEdit.next_attempt_at <= clock.now(),
                    TicketMessage.delivery_state == DeliveryState.SENT,
                )
                .order_by(MessageEdit.id)
                .limit(limit)
            )
        )
    handled = 0
    for edit_id in ids:
        handled += await deliver_edit(bot, sessionmaker, clock, edit_id)
    return handled
