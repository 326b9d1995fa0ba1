"""Telegram bot transport: the update inbox.

Every update is stored (committed) before Telegram gets its 200 / before the polling offset
moves on, and handled from here; `update_id` as the key makes a repeated delivery a no-op.
The payload is cleared once the update is handled: the ticket holds the message, the inbox
only needs the id to recognise a repeat.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


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
