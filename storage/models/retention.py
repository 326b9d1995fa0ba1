"""Retention engine: sweep-run summaries, the sweeper lease, recording tombstones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.admin import ApiToken, StaffSession
from storage.models.base import Base, BigIntPK
from storage.models.core import Organisation, Ticket


class RetentionRun(Base):
    """One sweep (or dry run): per rule what went, what a hold kept, what failed."""

    __tablename__ = "retention_runs"
    __table_args__ = (Index("ix_retention_runs_started", "started_at", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    as_of: Mapped[datetime]
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    trigger: Mapped[str] = mapped_column(String(32), default="cli")  # cli | serve | test
    # running | done | failed | interrupted (killed mid-way: the next sweep marks it so and
    # finishes its work)
    status: Mapped[str] = mapped_column(String(16), default="running")
    # {rule key: {"deleted": n, "kept_held": n, "failed": n}}
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(String(500))
    # Who runs it and when it last said so: a "running" row whose heartbeat stopped (or, on
    # the same host, whose process is gone) was killed. None on rows from before 0026.
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None]


class RetentionLease(Base):
    """At most one sweeper per name at a time on SQLite (PostgreSQL uses SKIP LOCKED).
    The holder renews `heartbeat_at` while it runs; a stale heartbeat or a vanished process
    on the same host frees the lease at once."""

    __tablename__ = "retention_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    since: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]


class PendingObject(Base):
    """An object-store key about to be written: recorded (and committed) before the write,
    removed in the transaction that adds the row naming it. A write that failed or landed
    after its deadline leaves this row, and the sweep (or `reconcile`) deletes the key's
    versions that no row names once `created_at` is past the grace period."""

    __tablename__ = "pending_objects"

    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    created_at: Mapped[datetime]


class RecordingTombstone(Base):
    """What remains of a deleted recording: no numbers, names, file names or audio."""

    __tablename__ = "recording_tombstones"
    __table_args__ = (
        Index("ix_recording_tombstones_deleted", "deleted_at", "id"),
        Index("ix_recording_tombstones_sha256", "sha256_original"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    recording_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    # The sha256 of the original audio (no personal data): ingest refuses the same file again,
    # so a deleted recording does not return from a re-run import. None before 0018.
    sha256_original: Mapped[str | None] = mapped_column(String(64))
    call_month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    duration_seconds: Mapped[float] = mapped_column(Float)
    hold_count: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(200), default="")
    deleted_at: Mapped[datetime]


# The sweeper's lookups on other features' tables (declared here, created by 0009).
# Status first: the planner would otherwise walk every closed ticket by activity.
Index("ix_tickets_retention", Ticket.status, Ticket.closed_at, Ticket.id)
Index("ix_staff_sessions_expires", StaffSession.expires_at)
Index("ix_api_tokens_revoked", ApiToken.revoked_at)
Index("ix_organisations_service", Organisation.service_status, Organisation.service_end_date)
