"""Media files kept by Ventros (one per tenant per content), and channel health records.

Revision ID: 0013_media
Revises: 0017_transfer_note
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql

revision: str = "0013_media"
# Chained after the newest revision on main so there is one head; renumber at merge.
down_revision: str | None = "0017_transfer_note"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_files",
        sa.Column("id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("mimetype", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("filename", sa.Text),
        sa.Column("storage_key", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_media_files"),
    )
    op.create_index(
        "uq_media_files_tenant_id_sha256", "media_files", ["tenant_id", "sha256"], unique=True
    )
    # The channel watchdog's record (channels/health.py): one row per channel.
    op.create_table(
        "channel_health",
        sa.Column("channel_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("health", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("waha_status", sa.Text),
        sa.Column("last_event_at", sa.DateTime(timezone=True)),
        sa.Column("restarted", sa.Boolean, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name="pk_channel_health"),
    )
    for table in ("media_files", "channel_health"):
        for statement in tenant_isolation_sql(table):
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("channel_health")
    op.drop_table("media_files")
