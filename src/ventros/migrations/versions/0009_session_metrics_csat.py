"""Service metrics on sessions (replies, resolution) and CSAT requests over WhatsApp.

Revision ID: 0009_session_metrics_csat
Revises: 0008_ads
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql

revision: str = "0009_session_metrics_csat"
down_revision: str | None = "0008_ads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _uuid(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, pg.UUID(as_uuid=True), **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column(
        "sessions", sa.Column("reply_count", sa.Integer, nullable=False, server_default="0")
    )
    op.add_column(
        "sessions",
        sa.Column("reply_seconds_total", sa.Float, nullable=False, server_default="0"),
    )
    op.add_column("sessions", sa.Column("resolution_seconds", sa.Float))
    # Sessions closed before this migration: their resolution time is known.
    op.execute(
        "UPDATE sessions SET resolution_seconds = "
        "GREATEST(EXTRACT(EPOCH FROM closed_at - started_at), 0) WHERE closed_at IS NOT NULL"
    )
    op.create_index("ix_sessions_tenant_started", "sessions", ["tenant_id", "started_at"])
    op.create_table(
        "session_csat_requests",
        _uuid("session_id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        _uuid("contact_id", nullable=False),
        _uuid("channel_id", nullable=False),
        _uuid("agent_id"),
        sa.Column("status", sa.Text, nullable=False),  # pending | answered | skipped
        sa.Column("reason", sa.Text),  # why it was skipped
        _uuid("message_id"),  # the question sent
        _ts("requested_at", nullable=False),
        _ts("answered_at"),
        sa.Column("score", sa.Integer),
    )
    op.create_index(
        "ix_session_csat_requests_pending",
        "session_csat_requests",
        ["tenant_id", "contact_id", "channel_id", "requested_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    for statement in tenant_isolation_sql("session_csat_requests"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("session_csat_requests")
    op.drop_index("ix_sessions_tenant_started", table_name="sessions")
    op.drop_column("sessions", "resolution_seconds")
    op.drop_column("sessions", "reply_seconds_total")
    op.drop_column("sessions", "reply_count")
