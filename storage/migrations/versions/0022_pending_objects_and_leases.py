"""Object-store writes recorded before they happen, and sweeper leases that tell who holds them

`pending_objects`: a key is recorded (committed) before its object is written and removed
with the row that names it, so a write that landed after its deadline is found and settled
by the next sweep or `reconcile`. `retention_leases` and `retention_runs` get the holder's
host, pid and heartbeat, so a killed sweeper is recognised at once.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pending_objects",
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_pending_objects"),
    )
    with op.batch_alter_table("retention_leases") as batch:
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("since", Moment, nullable=True))
        batch.add_column(sa.Column("heartbeat_at", Moment, nullable=True))
    with op.batch_alter_table("retention_runs") as batch:
        batch.add_column(sa.Column("host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", Moment, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("retention_runs") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("pid")
        batch.drop_column("host")
    with op.batch_alter_table("retention_leases") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("since")
        batch.drop_column("pid")
        batch.drop_column("host")
    op.drop_table("pending_objects")
