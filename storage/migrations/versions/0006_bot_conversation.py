"""Telegram bot conversation: link codes, held messages, edit history

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT keys on PostgreSQL; SQLite only autoincrements INTEGER PRIMARY KEY.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "link_codes",
        sa.Column("id", ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("created_by", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        _fk("link_codes", "contact_id", "contact_persons", "CASCADE"),
        _fk("link_codes", "created_by", "staff_users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_link_codes_code_hash")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_link_codes_contact_id"), "link_codes", ["contact_id"])

    op.create_table(
        "held_messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("media", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _fk("held_messages", "contact_id", "contact_persons", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_messages")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_held_messages_contact_id"), "held_messages", ["contact_id"])

    op.create_table(
        "message_edits",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("previous_text", sa.Text(), nullable=False),
        sa.Column("new_text", sa.Text(), nullable=False),
        sa.Column("editor_staff_id", ID, nullable=True),
        sa.Column("editor_contact_id", ID, nullable=True),
        sa.Column("edited_at", TS, nullable=False),
        sa.Column(
            "delivery_state",
            sa.Enum(
                "n/a",
                "pending",
                "sent",
                "failed",
                "undeliverable",
                name="delivery_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("delivery_attempts", sa.Integer(), nullable=False),
        sa.Column("delivery_error", sa.String(length=500), nullable=True),
        sa.Column("next_attempt_at", TS, nullable=True),
        _fk("message_edits", "message_id", "ticket_messages", "CASCADE"),
        _fk("message_edits", "editor_staff_id", "staff_users", "SET NULL"),
        _fk("message_edits", "editor_contact_id", "contact_persons", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_edits")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_message_edits_message_id"), "message_edits", ["message_id"])
    op.create_index("ix_message_edits_delivery", "message_edits", ["delivery_state", "id"])


def downgrade() -> None:
    op.drop_index("ix_message_edits_delivery", table_name="message_edits")
    op.drop_index(op.f("ix_message_edits_message_id"), table_name="message_edits")
    op.drop_table("message_edits")
    op.drop_index(op.f("ix_held_messages_contact_id"), table_name="held_messages")
    op.drop_table("held_messages")
    op.drop_index(op.f("ix_link_codes_contact_id"), table_name="link_codes")
    op.drop_table("link_codes")
