"""The Telegram user of each stored bot update

Lets every instance see that a user's earlier update failed and is waiting for its retry,
so it holds the user's later updates behind it instead of only the instance that saw the
failure doing so. Updates stored before this revision have no user and hold nothing back.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bot_updates", sa.Column("user_id", sa.BigInteger(), nullable=True))
    op.create_index("ix_bot_updates_user", "bot_updates", ["user_id", "processed_at"])


def downgrade() -> None:
    op.drop_index("ix_bot_updates_user", table_name="bot_updates")
    with op.batch_alter_table("bot_updates") as batch:
        batch.drop_column("user_id")
