"""Recordings on the web: listening sessions, waveform cache

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT keys on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recording_listens",
        sa.Column("id", ID, nullable=False),
        sa.Column("recording_id", ID, nullable=False),
        sa.Column("staff_user_id", ID, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_listens_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_recording_listens_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_listens")),
        sa.UniqueConstraint(
            "recording_id", "staff_user_id", name=op.f("uq_recording_listens_recording_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_recording_listens_staff_user_id"), "recording_listens", ["staff_user_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_recording_listens_staff_user_id"), table_name="recording_listens")
    op.drop_table("recording_listens")
