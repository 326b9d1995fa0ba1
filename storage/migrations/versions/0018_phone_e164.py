"""Phone numbers get their E.164 form next to the number as typed (privacy by identity)

contact_persons.phone_e164, contact_form_submissions.phone_e164 and recordings.caller_e164 /
callee_e164 hold the number parsed by `phonenumbers` (default region NL), indexed: filters
and the privacy desk compare these by equality, so "06-5555 6666" and "+31655556666" are
one person. Existing rows are filled in Python, a batch at a time (portable across SQLite
and PostgreSQL); text that is no possible number (withheld, an extension) stays NULL. The
parsing is written out here rather than imported so this revision keeps its meaning.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import phonenumbers
import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
E164_LENGTH = 16
# table: ((typed column, E.164 column), ...)
COLUMNS = {
    "contact_persons": (("phone", "phone_e164"),),
    "contact_form_submissions": (("phone", "phone_e164"),),
    "recordings": (("caller", "caller_e164"), ("callee", "callee_e164")),
}


def _e164(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    try:
        number = phonenumbers.parse(text, "NL")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _fill(table_name: str, pairs: tuple[tuple[str, str], ...]) -> None:
    bind = op.get_bind()
    columns = [sa.column("id", sa.BigInteger)]
    for typed, e164 in pairs:
        columns += [sa.column(typed, sa.String), sa.column(e164, sa.String)]
    table = sa.table(table_name, *columns)
    typed_columns = [table.c[typed] for typed, _ in pairs]
    last_id = None
    while True:
        query = sa.select(table.c.id, *typed_columns).order_by(table.c.id).limit(BATCH)
        if last_id is not None:
            query = query.where(table.c.id > last_id)
        rows = bind.execute(query).all()
        if not rows:
            return
        for row in rows:
            values = {e164: _e164(row[i + 1]) for i, (_, e164) in enumerate(pairs)}
            if any(v is not None for v in values.values()):
                bind.execute(table.update().where(table.c.id == row[0]).values(**values))
        last_id = rows[-1][0]


def upgrade() -> None:
    for table_name, pairs in COLUMNS.items():
        for _, e164 in pairs:
            op.add_column(table_name, sa.Column(e164, sa.String(length=E164_LENGTH), nullable=True))
        _fill(table_name, pairs)
        for _, e164 in pairs:
            op.create_index(f"ix_{table_name}_{e164}", table_name, [e164])


def downgrade() -> None:
    for table_name, pairs in COLUMNS.items():
        for _, e164 in pairs:
            op.drop_index(f"ix_{table_name}_{e164}", table_name=table_name)
        # Not batch_alter_table: its copy of the table on SQLite would drop the search
        # triggers of 0012/0014; SQLite (3.35+) and PostgreSQL drop a plain column in place.
        for _, e164 in pairs:
            op.drop_column(table_name, e164)
