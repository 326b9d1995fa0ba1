"""Organisations get the address where the services are delivered, and the moment their
billing name and that address were removed at the end of service

The privacy statement keeps both "until the end of service"; the retention sweep blanks
them (organisation_service_data) once the service has ended, and stamps
`service_data_removed_at` so the sweep passes over the row afterwards.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("delivery_address", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("service_data_removed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("service_data_removed_at")
        batch.drop_column("delivery_address")
