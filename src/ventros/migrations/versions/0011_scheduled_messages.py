"""Scheduled messages are messages: `scheduled` rows with their `send_at`, no session yet.

Revision ID: 0011_scheduled_messages
Revises: 0010_unsent_messages_index
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_scheduled_messages"
down_revision: str | None = "0010_unsent_messages_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEDULED = "status = 'scheduled'"


def upgrade() -> None:
    op.add_column("messages", sa.Column("send_at", sa.DateTime(timezone=True)))
    # A scheduled message joins a session only when it is sent.
    op.alter_column("messages", "session_id", nullable=True)
    op.create_index(
        "ix_messages_scheduled",
        "messages",
        ["tenant_id", "id"],
        postgresql_where=sa.text(SCHEDULED),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_scheduled", table_name="messages")
    op.execute("DELETE FROM messages WHERE session_id IS NULL")
    op.alter_column("messages", "session_id", nullable=False)
    op.drop_column("messages", "send_at")
