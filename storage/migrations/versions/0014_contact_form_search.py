"""Search contact-form tickets by their submitter ("reference, text, customer")

A contact-form ticket keeps the person's details in its submission, not in a contact
person: the ticket search also matches the submitter's name, e-mail, company and customer
number. Same approach as 0012: SQLite an external-content FTS5 trigram table kept in sync
by triggers, PostgreSQL pg_trgm GIN indexes on the lower(...) expressions searched. Not
part of the models (tests/test_migrations.py skips them).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FTS = "contact_form_search"
_TABLE = "contact_form_submissions"
_COLUMNS = ("name", "email", "company", "customer_number")


def _index(column: str) -> str:
    return f"ix_contact_form_submissions_{column}_trgm"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        cols = ", ".join(_COLUMNS)
        new = ", ".join(f"new.{c}" for c in _COLUMNS)
        old = ", ".join(f"old.{c}" for c in _COLUMNS)
        op.execute(
            f"CREATE VIRTUAL TABLE {_FTS} USING fts5({cols}, content='{_TABLE}',"
            " content_rowid='id', tokenize='trigram')"
        )
        add = f"INSERT INTO {_FTS}(rowid, {cols}) VALUES (new.id, {new});"
        # External content: the index forgets a row only when told its old values.
        remove = f"INSERT INTO {_FTS}({_FTS}, rowid, {cols}) VALUES ('delete', old.id, {old});"
        op.execute(f"CREATE TRIGGER {_FTS}_ai AFTER INSERT ON {_TABLE} BEGIN {add} END")
        op.execute(f"CREATE TRIGGER {_FTS}_ad AFTER DELETE ON {_TABLE} BEGIN {remove} END")
        op.execute(
            f"CREATE TRIGGER {_FTS}_au AFTER UPDATE OF {cols} ON {_TABLE} BEGIN {remove} {add} END"
        )
        op.execute(f"INSERT INTO {_FTS}({_FTS}) VALUES ('rebuild')")
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in _COLUMNS:
            op.execute(
                f"CREATE INDEX {_index(column)} ON {_TABLE}"
                f" USING gin (lower({column}) gin_trgm_ops)"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {_FTS}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {_FTS}")
    elif dialect == "postgresql":
        for column in _COLUMNS:
            op.execute(f"DROP INDEX IF EXISTS {_index(column)}")
