"""Telegram message ids of every chunk of a sent agent reply (reply edits)

A reply over 4096 characters goes out as several Telegram messages; an edit must reach all
of them. Replies sent before this revision only know their first message: that one becomes
chunk 0.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT keys on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reply_chunks",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["ticket_messages.id"],
            name=op.f("fk_reply_chunks_message_id_ticket_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_chunks")),
        sa.UniqueConstraint("message_id", "position", name=op.f("uq_reply_chunks_message_id")),
        sqlite_autoincrement=True,
    )
    op.execute(
        "INSERT INTO reply_chunks (message_id, position, telegram_message_id)"
        " SELECT id, 0, telegram_message_id FROM ticket_messages"
        " WHERE delivery_state = 'sent' AND telegram_message_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_table("reply_chunks")
