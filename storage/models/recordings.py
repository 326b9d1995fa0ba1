"""Call recordings: the archive row, free tags on our rows, and holds."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, BigIntPK, str_enum
from storage.phones import E164_LENGTH


class HoldKind(enum.StrEnum):
    TRAINING = "training"
    EVIDENCE = "evidence"


class Recording(Base):
    __tablename__ = "recordings"
    __table_args__ = (
        Index("ix_recordings_expires", "expires_at", "id"),
        Index("ix_recordings_started", "call_started_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    object_key: Mapped[str] = mapped_column(String(512), unique=True)
    version_id: Mapped[str | None] = mapped_column(String(128))
    sha256_original: Mapped[str] = mapped_column(String(64), unique=True)
    sha256_archive: Mapped[str] = mapped_column(String(64))
    duration_seconds: Mapped[float] = mapped_column(Float)
    original_format: Mapped[str] = mapped_column(String(64))
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    original_size: Mapped[int] = mapped_column(BigInteger)
    archive_size: Mapped[int] = mapped_column(BigInteger)
    original_filename: Mapped[str] = mapped_column(String(255), default="")
    call_started_at: Mapped[datetime]
    caller: Mapped[str | None] = mapped_column(String(64))
    caller_withheld: Mapped[bool] = mapped_column(Boolean, default=False)
    callee: Mapped[str | None] = mapped_column(String(64))
    # caller and callee as the PBX wrote them; these in E.164 (storage/phones.py), NULL when
    # the field is no phone number (withheld, an extension).
    caller_e164: Mapped[str | None] = mapped_column(String(E164_LENGTH), index=True)
    callee_e164: Mapped[str | None] = mapped_column(String(E164_LENGTH), index=True)
    agent: Mapped[str | None] = mapped_column(String(200))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # The object store's legal hold and tag are set outside any transaction (recordings/
    # service.py): `hold_revision` counts hold changes, `synced_revision` is the one the
    # store was last seen to carry; `sync_claim` is whoever calls the store for the row,
    # until `sync_claimed_until`. A delete decided but not yet confirmed by the store keeps
    # the row with `delete_requested_at`; the sweep settles what a crash or timeout left.
    hold_revision: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    synced_revision: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    sync_claim: Mapped[str | None] = mapped_column(String(32))
    sync_claimed_until: Mapped[datetime | None]
    delete_requested_at: Mapped[datetime | None]
    delete_reason: Mapped[str | None] = mapped_column(Text)

    tags: Mapped[list[RecordingTag]] = relationship(
        back_populates="recording",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="RecordingTag.tag",
    )
    holds: Mapped[list[RecordingHold]] = relationship(
        back_populates="recording",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="RecordingHold.id",
    )


class RecordingTag(Base):
    __tablename__ = "recording_tags"

    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)

    recording: Mapped[Recording] = relationship(back_populates="tags", lazy="raise")


class RecordingHold(Base):
    __tablename__ = "recording_holds"
    __table_args__ = (Index("ix_recording_holds_active", "recording_id", "released_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    kind: Mapped[HoldKind] = mapped_column(str_enum(HoldKind, "recording_hold_kind"))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(200))
    placed_at: Mapped[datetime]
    review_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    released_by: Mapped[str | None] = mapped_column(String(200))
    release_reason: Mapped[str | None] = mapped_column(Text)

    recording: Mapped[Recording] = relationship(back_populates="holds", lazy="raise")

    @property
    def active(self) -> bool:
        return self.released_at is None


class RecordingNote(Base):
    """A trainer's timestamped note on a recording held for training. Goes with the
    recording: deleted by the vault's delete path, and by the foreign key's cascade."""

    __tablename__ = "recording_notes"
    __table_args__ = (Index("ix_recording_notes_recording", "recording_id", "position_ms"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    position_ms: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    author_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]
