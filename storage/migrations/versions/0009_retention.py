"""Retention engine: sweep runs, leases, tombstones

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "retention_runs",
        sa.Column("id", BigIntPK, primary_key=True),
        sa.Column("started_at", Moment, nullable=False),
        sa.Column("finished_at", Moment, nullable=True),
        sa.Column("as_of", Moment, nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_retention_runs"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_retention_runs_started", "retention_runs", ["started_at", "id"])
    op.create_table(
        "retention_leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", Moment, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_retention_leases"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "recording_tombstones",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("recording_id", sa.BigInteger(), nullable=False),
        sa.Column("call_month", sa.String(7), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("hold_count", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("deleted_at", Moment, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recording_tombstones"),
        sa.UniqueConstraint("recording_id", name="uq_recording_tombstones_recording_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_recording_tombstones_deleted", "recording_tombstones", ["deleted_at", "id"])
    op.create_index("ix_tickets_retention", "tickets", ["status", "closed_at", "id"])
    op.create_index("ix_staff_sessions_expires", "staff_sessions", ["expires_at"])
    op.create_index("ix_api_tokens_revoked", "api_tokens", ["revoked_at"])
    op.create_index(
        "ix_organisations_service", "organisations", ["service_status", "service_end_date"]
    )


def downgrade() -> None:
    op.drop_index("ix_organisations_service", table_name="organisations")
    op.drop_index("ix_api_tokens_revoked", table_name="api_tokens")
    op.drop_index("ix_staff_sessions_expires", table_name="staff_sessions")
    op.drop_index("ix_tickets_retention", table_name="tickets")
    op.drop_index("ix_recording_tombstones_deleted", table_name="recording_tombstones")
    op.drop_table("recording_tombstones")
    op.drop_table("retention_leases")
    op.drop_index("ix_retention_runs_started", table_name="retention_runs")
    op.drop_table("retention_runs")
