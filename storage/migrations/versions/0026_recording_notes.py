"""Trainers' timestamped notes on recordings held for training

One row per note: the moment in the recording (milliseconds), the text, who wrote it and
when. The notes go with their recording (ON DELETE CASCADE; the vault's delete path also
deletes them explicitly).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT keys on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recording_notes",
        sa.Column("id", ID, nullable=False),
        sa.Column("recording_id", ID, nullable=False),
        sa.Column("position_ms", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_staff_id", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_notes_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_staff_id"],
            ["staff_users.id"],
            name=op.f("fk_recording_notes_author_staff_id_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_notes")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_recording_notes_recording", "recording_notes", ["recording_id", "position_ms"]
    )
    op.create_index(
        op.f("ix_recording_notes_author_staff_id"), "recording_notes", ["author_staff_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_recording_notes_author_staff_id"), table_name="recording_notes")
    op.drop_index("ix_recording_notes_recording", table_name="recording_notes")
    op.drop_table("recording_notes")
