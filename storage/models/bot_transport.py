"""Telegram bot transport: the update inbox.

Every update is stored (committed) before Telegram gets its 200 / before the polling offset
moves on, and handled from here; `update_id` as the key makes a repeated delivery a no-op.
The payload is cleared once the update is handled: the ticket holds the message, the inbox
only needs the id to recognise a repeat.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigIntPK, str_enum


class BotUpdate(Base):
    __tablename__ = "bot_updates"
    __table_args__ = (
        Index("ix_bot_updates_pending", "processed_at", "next_attempt_at"),
        Index("ix_bot_updates_user", "user_id", "processed_at"),
    )

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    # The Telegram user it came from: another instance holds their later updates behind a
    # failed one (bot/processor.py). None for updates without a user.
    user_id: Mapped[int | None] = mapped_column(BigInteger)


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # given up: Telegram refused it, or too many attempts
    UNDELIVERABLE = "undeliverable"  # blocked bot, deleted chat


class OutboxMessage(Base):
    """Everything the bot says, durable until Telegram confirmed it (bot/outbox.py).

    One chat's rows go out in `id` order: a row is sent only when no earlier row of its chat
    is still pending. `method` is a Bot API method with its JSON `payload`, or one of the
    composite kinds REPLY (an agent reply, sent in chunks) and REPLY_EDIT (an edit of one),
    which point at their ticket_messages / message_edits row."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_chat_pending", "state", "chat_id", "id"),
        Index("ix_outbox_ticket_message", "ticket_message_id"),
        Index("ix_outbox_message_edit", "message_edit_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[OutboxState] = mapped_column(
        str_enum(OutboxState, "outbox_state"), default=OutboxState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    leased_until: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]  # the first failed attempt; None once sent
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None]
    sent_message_id: Mapped[int | None] = mapped_column(BigInteger)
    ticket_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("ticket_messages.id", ondelete="CASCADE")
    )
    message_edit_id: Mapped[int | None] = mapped_column(
        ForeignKey("message_edits.id", ondelete="CASCADE")
    )
