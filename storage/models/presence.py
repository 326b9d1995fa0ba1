"""Who has a ticket open right now: one heartbeat row per ticket and staff user.

Kept in the database, not in process memory, so that two app instances see each other.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class TicketPresence(Base):
    __tablename__ = "ticket_presence"
    __table_args__ = (Index("ix_ticket_presence_seen", "ticket_id", "last_seen_at"),)

    ticket_id: Mapped[int] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True
    )
    last_seen_at: Mapped[datetime]
