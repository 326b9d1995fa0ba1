"""Recording tags written before tags were normalised are lower-cased and merged

"Escalation" and "escalation" on one recording become one row "escalation", with inner
whitespace collapsed as normalise_tags does, so the tag filter and the autocomplete need no
lower() on the column. Runs in Python over the rows: portable across SQLite and PostgreSQL.
There is no way back to the old spelling; the downgrade keeps the merged tags.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_tags = sa.table("recording_tags", sa.column("recording_id", sa.BigInteger), sa.column("tag"))


def _normal(tag: str) -> str:
    return " ".join(tag.split()).lower()


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_tags.c.recording_id, _tags.c.tag)).all()
    present = {(recording_id, tag) for recording_id, tag in rows}
    for recording_id, tag in rows:
        normal = _normal(tag)
        if normal == tag:
            continue
        bind.execute(_tags.delete().where(_tags.c.recording_id == recording_id, _tags.c.tag == tag))
        present.discard((recording_id, tag))
        if normal and (recording_id, normal) not in present:
            bind.execute(_tags.insert().values(recording_id=recording_id, tag=normal))
            present.add((recording_id, normal))


def downgrade() -> None:
    pass
