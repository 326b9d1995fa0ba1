"""Edits of sent agent replies, carried to the customer's chat. Called from the delivery
loop next to the reply outbox: message_edits rows in delivery_state PENDING are the queue.

A reply over 4096 characters went out as several messages (reply_chunks). An edit updates
every one in place: the new text is split the same way, existing chunks are edited, extra
chunks are sent (as a reply to the last existing one, so they read as its continuation) and
chunks the shorter text no longer needs are deleted; a chunk Telegram will not delete any
more (bots may delete only for 48 hours) is edited to SURPLUS_MARKER instead."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import NamedTuple

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import ReplyParameters
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    CLAIM_LEASE,
    MAX_ATTEMPTS,
    split_text,
    undeliverable,
)
from storage.clock import Clock
from storage.models import (
    ContactPrivacy,
    DeliveryState,
    MessageEdit,
    ReplyChunk,
    Ticket,
    TicketMessage,
)

log = logging.getLogger(__name__)

SURPLUS_MARKER = "\u2014"  # an em dash: what is left of a chunk that could not be deleted


class _Claim(NamedTuple):
    attempt: int
    reply_id: int
    chat_id: int
    chunk_ids: list[int]  # Telegram message ids of the reply's chunks, in order
    text: str


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, edit_id: int
) -> _Claim | None:
    """A due edit whose reply has been sent, with the reply's current text and chunks; None
    otherwise. The lease keeps other workers off it while we call Telegram."""
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
        chunk_ids = list(
            await session.scalars(
                select(ReplyChunk.telegram_message_id)
                .where(ReplyChunk.message_id == reply.id)
                .order_by(ReplyChunk.position)
            )
        )
        if not chunk_ids:  # sent without chunk rows: its one known message is chunk 0
            chunk_ids = [reply.telegram_message_id]
            session.add(
                ReplyChunk(message_id=reply.id, position=0, telegram_message_id=chunk_ids[0])
            )
        edit.delivery_attempts += 1
        edit.next_attempt_at = clock.now() + CLAIM_LEASE
        # The reply's current text: several quick edits end in the last one.
        claim = _Claim(
            edit.delivery_attempts,
            reply.id,
            reply.telegram_chat_id,
            chunk_ids,
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


def _not_modified(exc: TelegramBadRequest) -> bool:
    return "not modified" in exc.message.lower()


async def _edit_chunk(bot: Bot, chat_id: int, telegram_id: int, text: str) -> None:
    try:
        await bot.edit_message_text(text=text, chat_id=chat_id, message_id=telegram_id)
    except TelegramBadRequest as exc:
        # Already showing this text (an earlier, interrupted attempt got this far): done.
        if not _not_modified(exc):
            raise


async def _save_chunk(
    sessionmaker: async_sessionmaker[AsyncSession], reply_id: int, position: int, telegram_id: int
) -> None:
    async with sessionmaker() as session:
        chunk = await session.scalar(
            select(ReplyChunk).where(
                ReplyChunk.message_id == reply_id, ReplyChunk.position == position
            )
        )
        if chunk is None:
            session.add(
                ReplyChunk(message_id=reply_id, position=position, telegram_message_id=telegram_id)
            )
        else:
            chunk.telegram_message_id = telegram_id
        await session.commit()


async def _drop_chunk(
    sessionmaker: async_sessionmaker[AsyncSession], reply_id: int, position: int
) -> None:
    async with sessionmaker() as session:
        await session.execute(
            delete(ReplyChunk).where(
                ReplyChunk.message_id == reply_id, ReplyChunk.position == position
            )
        )
        await session.commit()


async def _carry(bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], claim: _Claim) -> None:
    """Make the chat show the reply's current text (see the module docstring). Each sent or
    deleted chunk is recorded at once, so a retry after a failure part-way neither sends a
    chunk twice nor loses one; edits that already went through come back "not modified"."""
    chat_id, ids, chunks = claim.chat_id, list(claim.chunk_ids), split_text(claim.text)
    for position, text in enumerate(chunks):
        if position < len(ids):
            await _edit_chunk(bot, chat_id, ids[position], text)
            continue
        reply_to = ReplyParameters(message_id=ids[-1], allow_sending_without_reply=True)
        sent = await bot.send_message(chat_id, text, reply_parameters=reply_to)
        await _save_chunk(sessionmaker, claim.reply_id, position, sent.message_id)
        ids.append(sent.message_id)
    for position in range(len(chunks), len(ids)):
        try:
            await bot.delete_message(chat_id, ids[position])
        except TelegramBadRequest as exc:
            if "not found" not in exc.message.lower():
                # Older than 48 hours: it stays, blanked, and a longer edit may reuse it.
                await _edit_chunk(bot, chat_id, ids[position], SURPLUS_MARKER)
                continue
        await _drop_chunk(sessionmaker, claim.reply_id, position)


async def deliver_edit(
    bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock, edit_id: int
) -> bool:
    """Edit one sent reply in the chat; False when the edit was not due."""
    claim = await _claim(sessionmaker, clock, edit_id)
    if claim is None:
        return False
    attempt = claim.attempt
    try:
        await _carry(bot, sessionmaker, claim)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("edit %s of a reply failed: %s", edit_id, error)
        state: DeliveryState | None = None
        retry_in: timedelta | None = None
        if undeliverable(exc) or isinstance(exc, TelegramBadRequest):
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
