"""Admin: contact-form submissions, presence and customer management

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contact_form_submissions",
        sa.Column("id", ID, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("ticket_id", ID, nullable=True),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("customer_number", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("ip_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_contact_form_submissions_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_form_submissions")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("contact_form_submissions") as batch:
        batch.create_index("ix_contact_form_submissions_created", ["created_at"])
        batch.create_index("ix_contact_form_submissions_ip", ["ip_hash", "created_at"])
        batch.create_index(op.f("ix_contact_form_submissions_ticket_id"), ["ticket_id"])

    op.create_table(
        "ticket_presence",
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("staff_user_id", ID, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_presence_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_ticket_presence_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "staff_user_id", name=op.f("pk_ticket_presence")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("ticket_presence") as batch:
        batch.create_index("ix_ticket_presence_seen", ["ticket_id", "last_seen_at"])

    with op.batch_alter_table("tickets") as batch:
        batch.create_index(
            "ix_tickets_status_category", ["status", "category", "last_activity_at", "id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_status_category")
    with op.batch_alter_table("ticket_presence") as batch:
        batch.drop_index("ix_ticket_presence_seen")
    op.drop_table("ticket_presence")
    with op.batch_alter_table("contact_form_submissions") as batch:
        batch.drop_index(op.f("ix_contact_form_submissions_ticket_id"))
        batch.drop_index("ix_contact_form_submissions_ip")
        batch.drop_index("ix_contact_form_submissions_created")
    op.drop_table("contact_form_submissions")
