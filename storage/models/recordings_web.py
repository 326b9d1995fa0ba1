"""Listening sessions on recordings (web): one audited play per session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigIntPK


class RecordingListen(Base):
    """The latest listening session of one staff member on one recording. One row per
    pair (unique), so parallel range requests serialise on it instead of each starting a
    session; earlier sessions live on as `recording.play` audit events."""

    __tablename__ = "recording_listens"
    __table_args__ = (UniqueConstraint("recording_id", "staff_user_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
