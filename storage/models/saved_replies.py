"""Saved replies: an agent's text modules for the ticket reply box."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigIntPK


class SavedReply(Base):
    """A reply text with placeholders (storage/services/saved_replies.py). Shared with the
    whole desk when `owner_id` is NULL, else personal to that staff user."""

    __tablename__ = "saved_replies"
    __table_args__ = (Index("ix_saved_replies_owner", "owner_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
