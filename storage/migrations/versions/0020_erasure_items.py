"""Erasures that wait: the items left to do and the subject's identity snapshot

An erasure request kept open by an evidence hold (or an object not yet deleted) records
what is left (erasure_items: ids, outcome, ground) and the identifiers needed to find it
after the contact row is gone (erasure_runs.subject); both go when the request closes.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "erasure_runs",
        sa.Column("request_id", BigIntPK, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("started_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name="fk_erasure_runs_request_id_privacy_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", name="pk_erasure_runs"),
    )
    op.create_table(
        "erasure_items",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("request_id", BigIntPK, nullable=False),
        sa.Column("item_type", sa.String(32), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("ground", sa.Text(), nullable=False),
        sa.Column("recorded_at", Moment, nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["erasure_runs.request_id"],
            name="fk_erasure_items_request_id_erasure_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_erasure_items"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_erasure_items_request", "erasure_items", ["request_id", "item_type", "item_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_erasure_items_request", table_name="erasure_items")
    op.drop_table("erasure_items")
    op.drop_table("erasure_runs")
