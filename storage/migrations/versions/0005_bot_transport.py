"""Telegram bot transport: the update inbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # update_id is Telegram's, not ours: no autoincrement.
    op.create_table(
        "bot_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_bot_updates")),
    )
    with op.batch_alter_table("bot_updates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_bot_updates_pending", ["processed_at", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bot_updates", schema=None) as batch_op:
        batch_op.drop_index("ix_bot_updates_pending")
    op.drop_table("bot_updates")
