"""Conversations lifecycle: the assignment queue and each agent's last assignment.

Revision ID: 0007_conversations_lifecycle
Revises: 0006_webhooks
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql

revision: str = "0007_conversations_lifecycle"
down_revision: str | None = "0006_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("session_assignments", "agent_activity")


def upgrade() -> None:
    op.create_table(
        "session_assignments",
        sa.Column("session_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column(
            "required_skills",
            pg.ARRAY(sa.Text),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        sa.Column("queued_at", sa.DateTime(timezone=True)),
        sa.Column("assigned_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("session_id", name="pk_session_assignments"),
    )
    op.create_index(
        "ix_session_assignments_waiting",
        "session_assignments",
        ["tenant_id", "queued_at", "session_id"],
        postgresql_where=sa.text("queued_at IS NOT NULL"),
    )
    op.create_table(
        "agent_activity",
        sa.Column("agent_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("tenant_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("agent_id", name="pk_agent_activity"),
    )
    for table in TENANT_TABLES:
        for statement in tenant_isolation_sql(table):
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("agent_activity")
    op.drop_table("session_assignments")
