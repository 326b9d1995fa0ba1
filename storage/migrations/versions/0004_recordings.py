"""Call recordings, tags and holds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# BIGINT keys on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", ID, nullable=False),
        sa.Column("object_key", sa.String(length=512), nullable=False),
        sa.Column("version_id", sa.String(length=128), nullable=True),
        sa.Column("sha256_original", sa.String(length=64), nullable=False),
        sa.Column("sha256_archive", sa.String(length=64), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("original_format", sa.String(length=64), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("original_size", sa.BigInteger(), nullable=False),
        sa.Column("archive_size", sa.BigInteger(), nullable=False),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("call_started_at", TS, nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=True),
        sa.Column("caller_withheld", sa.Boolean(), nullable=False),
        sa.Column("callee", sa.String(length=64), nullable=True),
        sa.Column("agent", sa.String(length=200), nullable=True),
        sa.Column("ticket_id", ID, nullable=True),
        sa.Column("organisation_id", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_recordings_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_recordings_organisation_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("object_key", name=op.f("uq_recordings_object_key")),
        sa.UniqueConstraint("sha256_original", name=op.f("uq_recordings_sha256_original")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index("ix_recordings_expires", ["expires_at", "id"], unique=False)
        batch_op.create_index("ix_recordings_started", ["call_started_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recordings_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "recording_tags",
        sa.Column("recording_id", ID, nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_tags_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recording_id", "tag", name=op.f("pk_recording_tags")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("recording_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recording_tags_tag"), ["tag"], unique=False)

    op.create_table(
        "recording_holds",
        sa.Column("id", ID, nullable=False),
        sa.Column("recording_id", ID, nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "training",
                "evidence",
                name="recording_hold_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("placed_by", sa.String(length=200), nullable=False),
        sa.Column("placed_at", TS, nullable=False),
        sa.Column("review_at", TS, nullable=False),
        sa.Column("released_at", TS, nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_holds_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_holds")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("recording_holds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recording_holds_active", ["recording_id", "released_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("recording_holds", schema=None) as batch_op:
        batch_op.drop_index("ix_recording_holds_active")
    op.drop_table("recording_holds")
    with op.batch_alter_table("recording_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_tags_tag"))
    op.drop_table("recording_tags")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recordings_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_recordings_ticket_id"))
        batch_op.drop_index("ix_recordings_started")
        batch_op.drop_index("ix_recordings_expires")
    op.drop_table("recordings")
