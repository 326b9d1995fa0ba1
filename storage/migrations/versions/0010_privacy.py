"""Privacy requests, restriction, exports

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Moment = sa.DateTime(timezone=True)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "privacy_requests",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column(
            "type",
            _enum(
                "privacy_request_type",
                "access",
                "correction",
                "erasure",
                "restriction",
                "objection",
                "portability",
                "consent_withdrawal",
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            _enum("privacy_request_status", "received", "verified", "done", "rejected"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("contact_id", BigIntPK, nullable=True),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("received_at", Moment, nullable=False),
        sa.Column("deadline_at", Moment, nullable=False),
        sa.Column("warn_at", Moment, nullable=False),
        sa.Column("verified_at", Moment, nullable=True),
        sa.Column("closed_at", Moment, nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact_persons.id"],
            name="fk_privacy_requests_contact_id_contact_persons",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_requests"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_privacy_requests_contact_id", "privacy_requests", ["contact_id"])
    op.create_index("ix_privacy_requests_open", "privacy_requests", ["status", "deadline_at", "id"])
    op.create_table(
        "privacy_request_events",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("request_id", BigIntPK, nullable=False),
        sa.Column("at", Moment, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name="fk_privacy_request_events_request_id_privacy_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_request_events"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_privacy_request_events_request_id", "privacy_request_events", ["request_id"]
    )
    op.create_table(
        "privacy_documents",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("request_id", BigIntPK, nullable=True),
        sa.Column("contact_id", BigIntPK, nullable=True),
        sa.Column("kind", _enum("privacy_document_kind", "id_copy", "export"), nullable=False),
        sa.Column("object_key", sa.String(512), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=False),
        sa.Column("deleted_at", Moment, nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name="fk_privacy_documents_request_id_privacy_requests",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact_persons.id"],
            name="fk_privacy_documents_contact_id_contact_persons",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_documents"),
        sa.UniqueConstraint("object_key", name="uq_privacy_documents_object_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_privacy_documents_request_id", "privacy_documents", ["request_id"])
    op.create_index("ix_privacy_documents_contact_id", "privacy_documents", ["contact_id"])
    op.create_index(
        "ix_privacy_documents_expiry", "privacy_documents", ["deleted_at", "expires_at"]
    )
    op.create_table(
        "contact_privacy",
        sa.Column("contact_id", BigIntPK, nullable=False),
        sa.Column("restricted_at", Moment, nullable=True),
        sa.Column("consent_withdrawn_at", Moment, nullable=True),
        sa.Column("objected_at", Moment, nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact_persons.id"],
            name="fk_contact_privacy_contact_id_contact_persons",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name="pk_contact_privacy"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("contact_privacy")
    op.drop_index("ix_privacy_documents_expiry", table_name="privacy_documents")
    op.drop_index("ix_privacy_documents_contact_id", table_name="privacy_documents")
    op.drop_index("ix_privacy_documents_request_id", table_name="privacy_documents")
    op.drop_table("privacy_documents")
    op.drop_index("ix_privacy_request_events_request_id", table_name="privacy_request_events")
    op.drop_table("privacy_request_events")
    op.drop_index("ix_privacy_requests_open", table_name="privacy_requests")
    op.drop_index("ix_privacy_requests_contact_id", table_name="privacy_requests")
    op.drop_table("privacy_requests")
