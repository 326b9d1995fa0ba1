"""Edits of sent agent replies, carried to the customer's chat by the outbox worker
(bot/outbox.py, REPLY_EDIT rows, behind the reply itself in the chat's order).

A reply over 4096 characters went out as several messages (reply_chunks). An edit updates
every one in place: the new text, under the ticket heading the reply went out with (if any),
is split the same way, existing chunks are edited, extra
chunks are sent (as a reply to the last existing one, so they read as its continuation) and
chunks the shorter text no longer needs are deleted; a chunk Telegram will not delete any
more (bots may delete only for 48 hours) is edited to SURPLUS_MARKER instead."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import NamedTuple

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import ReplyParameters
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import Undeliverable, reference_heading, with_heading
from bot.telegram_text import split_text
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


async def _load(sessionmaker: async_sessionmaker[AsyncSession], edit_id: int) -> _Claim:
    """The sent reply the edit belongs to, with its current text and chunks."""
    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(MessageEdit, TicketMessage, ContactPrivacy.restricted_at)
                .join(TicketMessage, TicketMessage.id == MessageEdit.message_id)
                .join(Ticket, Ticket.id == TicketMessage.ticket_id)
                .outerjoin(ContactPrivacy, ContactPrivacy.contact_id == Ticket.contact_id)
                .where(MessageEdit.id == edit_id)
            )
        ).one_or_none()
        if row is None:
            raise Undeliverable("the edit was removed")
        edit, reply, restricted_at = row
        # Restricted processing (GDPR art. 18) stops edits too, like new replies; a reply
        # that never reached the chat has nothing to edit.
        if (
            restricted_at is not None
            or reply.delivery_state != DeliveryState.SENT
            or reply.telegram_chat_id is None
            or reply.telegram_message_id is None
        ):
            raise Undeliverable("the reply is not in the chat")
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
            await session.commit()
        # The heading the reply went out with (sent before it was recorded: as a reply
        # would have one now).
        heading = reply.sent_heading
        if heading is None:
            heading = await reference_heading(session, reply.ticket_id)
        # The reply's current text: several quick edits end in the last one.
        text = with_heading(heading, reply.text)
        chat_id = reply.telegram_chat_id
        return _Claim(edit.delivery_attempts, reply.id, chat_id, chunk_ids, text)


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


async def carry_edit(
    bot: Bot, sessionmaker: async_sessionmaker[AsyncSession], edit_id: int
) -> None:
    """Make the chat show the edited reply (the outbox's REPLY_EDIT row, bot/outbox.py)."""
    await _carry(bot, sessionmaker, await _load(sessionmaker, edit_id))


def record_edit(
    edit: MessageEdit,
    *,
    attempts: int,
    state: DeliveryState,
    error: str | None,
    retry_at: datetime | None,
) -> None:
    """Mirror the outbox row's outcome on the edit."""
    edit.delivery_attempts = attempts
    edit.delivery_state = state
    edit.delivery_error = error
    edit.next_attempt_at = retry_at
