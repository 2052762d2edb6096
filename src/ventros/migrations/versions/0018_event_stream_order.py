"""Event streams follow commit order: each logged event keeps its transaction id.

Revision ID: 0018_event_stream_order
Revises: 0011_scheduled_messages
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_event_stream_order"
down_revision: str | None = "0011_scheduled_messages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows logged before this revision share the migration's transaction id: among them
    # the stream's order is the id order it had before.
    op.add_column(
        "domain_events",
        sa.Column(
            "txid",
            sa.BigInteger,
            nullable=False,
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
        ),
    )
    op.create_index(
        "ix_domain_events_tenant_id_txid_id", "domain_events", ["tenant_id", "txid", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_domain_events_tenant_id_txid_id", table_name="domain_events")
    op.drop_column("domain_events", "txid")
