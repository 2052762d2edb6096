"""Sessions keep the note of their last transfer, for the agent who received them.

Revision ID: 0017_transfer_note
Revises: 0018_event_stream_order
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_transfer_note"
down_revision: str | None = "0018_event_stream_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("transfer_note", sa.Text))


def downgrade() -> None:
    op.drop_column("sessions", "transfer_note")
