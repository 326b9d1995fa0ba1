"""One-time page values (a new API token, a link code) move to the staff session row

They were kept in the admin process's memory, so behind several instances the GET after the
POST's redirect could land on one that never saw them. staff_sessions.flash holds them
until that GET reads (and clears) them.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_sessions") as batch:
        batch.add_column(sa.Column("flash", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_sessions") as batch:
        batch.drop_column("flash")
