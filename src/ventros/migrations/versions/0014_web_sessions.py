"""The web app: its server-side login sessions, what each conversation's reader has seen,
and the index the inbox's first page reads.

Revision ID: 0014_web_sessions
Revises: 0019_inbound_traceparent
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql

revision: str = "0014_web_sessions"
down_revision: str | None = "0019_inbound_traceparent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Looked up by the hash of the cookie's secret before any tenant is known, so it is
    # not under tenant RLS: knowing a row's key is knowing the session.
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.Text, primary_key=True),
        sa.Column("user_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("csrf_token", sa.Text, nullable=False),
        sa.Column("locale", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    # When the conversation was last opened: inbound messages after it are unread.
    op.create_table(
        "session_reads",
        sa.Column("session_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
    )
    for statement in tenant_isolation_sql("session_reads"):
        op.execute(statement)
    # The inbox: a tenant's sessions of one status, most recent activity first.
    op.create_index(
        "ix_sessions_tenant_status_activity",
        "sessions",
        ["tenant_id", "status", sa.text("last_activity_at DESC"), sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_tenant_status_activity", table_name="sessions")
    op.drop_table("session_reads")
    op.drop_table("web_sessions")
