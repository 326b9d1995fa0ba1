"""One durable outbox for everything the bot says, sent in order per chat

Bot answers were sent once after the update's commit and lost on a failure; agent replies
and their edits had queues of their own, so after an outage a later reply could overtake an
earlier one. The `outbox` table holds them all (bot/outbox.py). Replies still pending move
into it; ticket_messages gets the time of a reply's first failed attempt ("retrying since").

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("pending", "sent", "failed", "undeliverable")
# BIGINT keys on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", ID, primary_key=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                *STATES,
                name="outbox_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_message_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "ticket_message_id",
            ID,
            sa.ForeignKey("ticket_messages.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "message_edit_id",
            ID,
            sa.ForeignKey("message_edits.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sqlite_autoincrement=True,  # ids are the send order: never reused
    )
    op.create_index("ix_outbox_chat_pending", "outbox", ["state", "chat_id", "id"])
    op.create_index("ix_outbox_ticket_message", "outbox", ["ticket_message_id"])
    op.create_index("ix_outbox_message_edit", "outbox", ["message_edit_id"])
    with op.batch_alter_table("ticket_messages") as batch:
        batch.add_column(
            sa.Column("delivery_failing_since", sa.DateTime(timezone=True), nullable=True)
        )
    # Replies (and edits of sent replies) still waiting go into the outbox, in their order;
    # without a chat (0, storage/services/outbox.py NO_CHAT) the worker marks them undeliverable.
    op.execute(
        "INSERT INTO outbox (chat_id, method, payload, state, attempts, failed_attempts,"
        " created_at, next_attempt_at, ticket_message_id)"
        " SELECT COALESCE(c.telegram_chat_id, 0), 'reply', '{}', 'pending', 0, 0,"
        " m.created_at, m.created_at, m.id FROM ticket_messages m"
        " JOIN tickets t ON t.id = m.ticket_id"
        " LEFT JOIN contact_persons c ON c.id = t.contact_id"
        " WHERE m.delivery_state = 'pending' ORDER BY m.id"
    )
    op.execute(
        "INSERT INTO outbox (chat_id, method, payload, state, attempts, failed_attempts,"
        " created_at, next_attempt_at, message_edit_id)"
        " SELECT COALESCE(c.telegram_chat_id, 0), 'reply_edit', '{}', 'pending', 0, 0,"
        " e.edited_at, e.edited_at, e.id FROM message_edits e"
        " JOIN ticket_messages m ON m.id = e.message_id JOIN tickets t ON t.id = m.ticket_id"
        " LEFT JOIN contact_persons c ON c.id = t.contact_id"
        " WHERE e.delivery_state = 'pending' ORDER BY e.id"
    )


def downgrade() -> None:
    with op.batch_alter_table("ticket_messages") as batch:
        batch.drop_column("delivery_failing_since")
    op.drop_index("ix_outbox_message_edit", table_name="outbox")
    op.drop_index("ix_outbox_ticket_message", table_name="outbox")
    op.drop_index("ix_outbox_chat_pending", table_name="outbox")
    op.drop_table("outbox")
