"""Routing (issue 16): teams, business hours, ordered routing rules, SLA policies, the
tenant's follow-up; each session's team, SLA deadlines and raised points, snooze and the
system's own messages.

Revision ID: 0023_routing_sla
Revises: 0022_agent_tools
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql

revision: str = "0023_routing_sla"
down_revision: str | None = "0022_agent_tools"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("business_hours", "teams", "routing_rules", "sla_policies", "routing_settings")


def _uuid(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, pg.UUID(as_uuid=True), **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "business_hours",
        _uuid("id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("weekly", pg.JSONB, nullable=False),
        sa.Column(
            "holidays", pg.ARRAY(sa.Date), nullable=False, server_default=sa.text("'{}'::date[]")
        ),
        sa.Column("outside_hours_reply", sa.Text),
        _ts("updated_at", nullable=False),
    )
    op.create_index("ix_business_hours_tenant_id", "business_hours", ["tenant_id"])
    op.create_table(
        "teams",
        _uuid("id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "members",
            pg.ARRAY(pg.UUID(as_uuid=True)),
            nullable=False,
            server_default=sa.text("'{}'::uuid[]"),
        ),
        _uuid("business_hours_id"),
        sa.Column("follow_up", pg.JSONB),
        _ts("updated_at", nullable=False),
    )
    op.create_index("ix_teams_tenant_id", "teams", ["tenant_id"])
    op.create_table(
        "routing_rules",
        _uuid("id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        _uuid("team_id", nullable=False),
        sa.Column("conditions", pg.JSONB, nullable=False),
        sa.Column(
            "required_skills",
            pg.ARRAY(sa.Text),
            nullable=False,
            server_default=sa.text("'{}'::text[]"),
        ),
        _ts("updated_at", nullable=False),
    )
    op.create_index(
        "ix_routing_rules_tenant_id_position", "routing_rules", ["tenant_id", "position"]
    )
    op.create_table(
        "sla_policies",
        _uuid("id", primary_key=True),
        _uuid("tenant_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        _uuid("team_id"),
        sa.Column("label", sa.Text),
        sa.Column("first_response_seconds", sa.Integer),
        sa.Column("resolution_seconds", sa.Integer),
        _ts("updated_at", nullable=False),
    )
    op.create_index("ix_sla_policies_tenant_id_team_id", "sla_policies", ["tenant_id", "team_id"])
    op.create_table(
        "routing_settings",
        _uuid("tenant_id", primary_key=True),
        sa.Column("follow_up", pg.JSONB),
        _ts("updated_at", nullable=False),
    )
    for table in TABLES:
        for statement in tenant_isolation_sql(table):
            op.execute(statement)

    op.add_column("sessions", _uuid("team_id"))
    op.add_column("sessions", _ts("first_response_due_at"))
    op.add_column("sessions", _ts("resolution_due_at"))
    op.add_column(
        "sessions",
        sa.Column(
            "sla_raised", pg.ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")
        ),
    )
    op.add_column("sessions", _ts("snoozed_until"))
    op.add_column("sessions", _ts("auto_replied_at"))
    op.add_column("sessions", _ts("follow_up_nudged_at"))
    op.create_index(
        "ix_sessions_tenant_id_team_id_status", "sessions", ["tenant_id", "team_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_tenant_id_team_id_status", table_name="sessions")
    for column in (
        "follow_up_nudged_at",
        "auto_replied_at",
        "snoozed_until",
        "sla_raised",
        "resolution_due_at",
        "first_response_due_at",
        "team_id",
    ):
        op.drop_column("sessions", column)
    for table in reversed(TABLES):
        op.drop_table(table)
