"""An index on outbound messages WAHA has not answered yet, for the abandoned-send sweep.

Revision ID: 0010_unsent_messages_index
Revises: 0009_session_metrics_csat
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_unsent_messages_index"
down_revision: str | None = "0009_session_metrics_csat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT = "status = 'pending' AND direction = 'outbound' AND external_id IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_messages_unsent_created_at",
        "messages",
        ["created_at"],
        postgresql_where=sa.text(UNSENT),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_unsent_created_at", table_name="messages")
