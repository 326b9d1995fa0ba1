"""A recording's object-store state is changed outside the database transaction

`hold_revision` counts changes of a recording's holds (and of its stored version);
`synced_revision` is the revision whose legal hold and tag the object store was last seen to
carry. `sync_claim`/`sync_claimed_until`: the one request or sweep that is calling the store
for the recording (compare-and-set, a lease rather than a lock held across the call).
`delete_requested_at`/`delete_reason`: a hold-checked delete decided and committed, its
object delete not yet confirmed. Every existing row was set in step under the old row lock,
so both revisions start at 0.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Moment = sa.DateTime(timezone=True)


COLUMNS = (
    ("hold_revision", sa.Integer(), False),
    ("synced_revision", sa.Integer(), False),
    ("sync_claim", sa.String(32), True),
    ("sync_claimed_until", Moment, True),
    ("delete_requested_at", Moment, True),
    ("delete_reason", sa.Text(), True),
)


# Plain ADD/DROP COLUMN, not batch_alter_table: its copy of the table on SQLite would lose
# AUTOINCREMENT (a deleted recording's id handed out again).
def upgrade() -> None:
    for name, type_, nullable in COLUMNS:
        default = None if nullable else sa.text("0")
        op.add_column(
            "recordings",
            sa.Column(name, type_, nullable=nullable, server_default=default),
        )


def downgrade() -> None:
    for name, _type, _nullable in reversed(COLUMNS):
        op.drop_column("recordings", name)
