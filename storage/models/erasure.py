"""Erasure requests that cannot finish at once (an evidence hold, an object that could not
be deleted yet): what is left to do, and the subject's identifiers needed to find it once
the contact row is gone. Both go when the request closes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, BigIntPK


class ErasureRun(Base):
    """One per erasure request still waiting. `subject` is the identity snapshot
    (storage/services/subject.py SubjectIdentity.to_json): contact id, E.164 numbers,
    e-mail addresses, Telegram id; deleted with the row when the request closes."""

    __tablename__ = "erasure_runs"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("privacy_requests.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16))  # waiting | completed
    subject: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ErasureItem(Base):
    """An item an erasure could not finish yet: ids and grounds only, never personal text."""

    __tablename__ = "erasure_items"
    __table_args__ = (Index("ix_erasure_items_request", "request_id", "item_type", "item_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("erasure_runs.request_id", ondelete="CASCADE")
    )
    item_type: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(16))  # kept | waiting
    ground: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime]


class DiskCleanup(Base):
    """A table an erasure changed whose files may still hold the erased values (old row
    versions on PostgreSQL; on SQLite one row, `*`, for the WAL): written in the erasure's
    own transaction, so the cleanup survives a restart; deleted once the disk cleanup
    worker (storage/services/disk_cleanup.py) has rewritten the table. Names only."""

    __tablename__ = "disk_cleanups"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    table_name: Mapped[str] = mapped_column(String(63))
    xid: Mapped[int] = mapped_column(BigInteger, default=0)  # the erasure's transaction
