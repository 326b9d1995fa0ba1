"""Recording tombstones keep the sha256 of the original audio

Ingest refuses a file whose recording was deleted before (by hand, the sweep or an erasure),
so re-running an import of the same PBX export does not bring it back with a fresh 90 days.
A sha256 of the audio is not personal data. Tombstones written before this revision have none.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "recording_tombstones", sa.Column("sha256_original", sa.String(length=64), nullable=True)
    )
    op.create_index("ix_recording_tombstones_sha256", "recording_tombstones", ["sha256_original"])


def downgrade() -> None:
    op.drop_index("ix_recording_tombstones_sha256", table_name="recording_tombstones")
    with op.batch_alter_table("recording_tombstones") as batch:
        batch.drop_column("sha256_original")
