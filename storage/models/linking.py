"""Telegram linking and conversation state: link codes, held messages, edits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigIntPK, str_enum
from storage.models.core import DeliveryState


class LinkCode(Base):
    """A one-time code that links a Telegram user to a known contact. Only the SHA-256 of
    the code is stored: a database leak does not hand out working codes."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contact_persons.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class UnfiledMessage(Base):
    """A customer text kept while the bot asks which of several open tickets it is for
    (not filed on a ticket yet). The table keeps its first name: retention rule and export
    keys say held_messages."""

    __tablename__ = "held_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contact_persons.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    telegram_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # A held photo/document: only Telegram's file reference (file_id, unique_id, filename,
    # media_type, size); the file is downloaded once the customer picks the ticket.
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    # When the bot asked again which ticket it is for (once, before it is filed anyway).
    reminded_at: Mapped[datetime | None]


class ReplyChunk(Base):
    """One Telegram message of a sent agent reply, in order: a reply over 4096 characters
    goes out as several, and an edit of the reply must update all of them.
    TicketMessage.telegram_message_id stays the first chunk's id (replies are matched on it)."""

    __tablename__ = "reply_chunks"
    __table_args__ = (UniqueConstraint("message_id", "position"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("ticket_messages.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    telegram_message_id: Mapped[int] = mapped_column(BigInteger)


class MessageEdit(Base):
    """One edit of a ticket message: the text before and after. An agent's edit of a sent
    Telegram reply is also the outbox entry that edits it in the chat (delivery_state)."""

    __tablename__ = "message_edits"
    __table_args__ = (Index("ix_message_edits_delivery", "delivery_state", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("ticket_messages.id", ondelete="CASCADE"), index=True
    )
    previous_text: Mapped[str] = mapped_column(Text)
    new_text: Mapped[str] = mapped_column(Text)
    editor_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    editor_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_persons.id", ondelete="SET NULL")
    )
    edited_at: Mapped[datetime]
    delivery_state: Mapped[DeliveryState] = mapped_column(
        str_enum(DeliveryState, "delivery_state"), default=DeliveryState.NOT_APPLICABLE
    )
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivery_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None]
