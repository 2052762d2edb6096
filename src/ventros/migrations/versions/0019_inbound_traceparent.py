"""Stored WAHA webhooks keep the trace of the request that delivered them.

Revision ID: 0019_inbound_traceparent
Revises: 0015_analysis
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_inbound_traceparent"
down_revision: str | None = "0015_analysis"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: instant on a large table; rows stored before have no trace.
    op.add_column("inbound_events", sa.Column("traceparent", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("inbound_events", "traceparent")
