"""A sent reply remembers the ticket heading it went out with; a held message when its
ticket question was asked again

ticket_messages.sent_heading: the "About ticket T-...:" line a Telegram reply started with
('' when it had none), so an edit re-split into several messages repeats exactly that
heading. NULL for replies sent before this revision (an edit then decides as a new reply
would). held_messages.reminded_at: when the bot asked again which ticket the message is for.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_messages") as batch:
        batch.add_column(sa.Column("sent_heading", sa.String(200), nullable=True))
    with op.batch_alter_table("held_messages") as batch:
        batch.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("held_messages") as batch:
        batch.drop_column("reminded_at")
    with op.batch_alter_table("ticket_messages") as batch:
        batch.drop_column("sent_heading")
