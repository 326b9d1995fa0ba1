"""Tables an erasure changed, waiting for their rewrite by the disk cleanup worker

Written in the erasure's own transaction (names and the transaction id only), so a restart
does not lose the cleanup: the worker works through the rows at start and deletes them
once each table has been rewritten (storage/services/disk_cleanup.py).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "disk_cleanups",
        sa.Column("id", ID, nullable=False),
        sa.Column("table_name", sa.String(63), nullable=False),
        sa.Column("xid", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disk_cleanups")),
    )


def downgrade() -> None:
    op.drop_table("disk_cleanups")
