"""Ticket search index

Substring search over ticket subjects, message texts and contact names/e-mails without a
scan of every ticket. SQLite: external-content FTS5 tables with the trigram tokenizer, kept
in sync by triggers. PostgreSQL: pg_trgm GIN indexes on the lower(...) expressions the
service searches. Neither is part of the models (tests/test_migrations.py skips them).

Note for later migrations: rebuilding tickets, ticket_messages or contact_persons with
batch_alter_table on SQLite drops these triggers; recreate them afterwards.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (FTS table, content table, indexed columns)
_FTS = (
    ("ticket_search", "tickets", ("subject",)),
    ("ticket_message_search", "ticket_messages", ("text",)),
    ("contact_search", "contact_persons", ("name", "email")),
)
# (index, table, column)
_TRGM = (
    ("ix_tickets_subject_trgm", "tickets", "subject"),
    ("ix_ticket_messages_text_trgm", "ticket_messages", "text"),
    ("ix_contact_persons_name_trgm", "contact_persons", "name"),
    ("ix_contact_persons_email_trgm", "contact_persons", "email"),
)


def _sqlite_upgrade() -> None:
    for fts, table, columns in _FTS:
        cols = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}',"
            " content_rowid='id', tokenize='trigram')"
        )
        add = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new});"
        # External content: the index forgets a row only when told its old values.
        remove = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old});"
        op.execute(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN {add} END")
        op.execute(f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN {remove} END")
        op.execute(
            f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {table} BEGIN {remove} {add} END"
        )
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def _sqlite_downgrade() -> None:
    for fts, _table, _columns in _FTS:
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {fts}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        # Trusted since PostgreSQL 13: the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for index, table, column in _TRGM:
            op.execute(f"CREATE INDEX {index} ON {table} USING gin (lower({column}) gin_trgm_ops)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_downgrade()
    elif dialect == "postgresql":
        for index, _table, _column in _TRGM:
            op.execute(f"DROP INDEX IF EXISTS {index}")
        # pg_trgm stays: an extension is database-wide and others may rely on it.
