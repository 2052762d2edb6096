"""Pipelines (stages, stage history) and tracking (trackings, ad spend, conversions).

Revision ID: 0004_pipelines_tracking
Revises: 0003_channels_conversations
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql

revision: str = "0004_pipelines_tracking"
down_revision: str | None = "0003_channels_conversations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "pipelines",
    "pipeline_stages",
    "pipeline_stage_history",
    "pipeline_stage_daily",
    "trackings",
    "ad_spend_daily",
    "tracking_conversions",
)


def _uuid(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, pg.UUID(as_uuid=True), **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _pipelines() -> None:
    op.create_table(
        "pipelines",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("allowed_transitions", pg.JSONB),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipelines"),
    )
    op.create_index("ix_pipelines_tenant_id_id", "pipelines", ["tenant_id", sa.text("id DESC")])
    op.create_table(
        "pipeline_stages",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        _uuid("pipeline_id", nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_stages"),
        sa.UniqueConstraint(
            "pipeline_id", "position", name="uq_pipeline_stages_pipeline_id_position"
        ),
    )
    op.create_table(
        "pipeline_stage_history",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        _uuid("pipeline_id", nullable=False),
        _uuid("contact_id", nullable=False),
        _uuid("stage_id", nullable=False),
        _ts("entered_at", nullable=False),
        _uuid("entered_by"),
        _ts("exited_at"),
        _uuid("exited_by"),
        _uuid("next_stage_id"),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_stage_history"),
    )
    op.create_index(
        "uq_pipeline_stage_history_current",
        "pipeline_stage_history",
        ["tenant_id", "pipeline_id", "contact_id"],
        unique=True,
        postgresql_where=sa.text("exited_at IS NULL"),
    )
    op.create_index(
        "ix_pipeline_stage_history_current_stage",
        "pipeline_stage_history",
        ["tenant_id", "pipeline_id", "stage_id"],
        postgresql_where=sa.text("exited_at IS NULL"),
    )
    op.create_index(
        "ix_pipeline_stage_history_entered",
        "pipeline_stage_history",
        ["tenant_id", "pipeline_id", "entered_at"],
        postgresql_include=["stage_id", "exited_at", "next_stage_id"],
    )
    op.create_index(
        "ix_pipeline_stage_history_contact",
        "pipeline_stage_history",
        ["tenant_id", "contact_id", "entered_at"],
    )
    op.create_table(
        "pipeline_stage_daily",
        _uuid("tenant_id", nullable=False),
        _uuid("pipeline_id", nullable=False),
        _uuid("stage_id", nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        *(
            sa.Column(name, sa.BigInteger, nullable=False, server_default=sa.text("0"))
            for name in ("entered", "exits", "exited_to_next")
        ),
        sa.Column("seconds", sa.Double, nullable=False, server_default=sa.text("0")),
        sa.PrimaryKeyConstraint(
            "tenant_id", "pipeline_id", "stage_id", "day", name="pk_pipeline_stage_daily"
        ),
    )


def _tracking() -> None:
    op.create_table(
        "trackings",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        _uuid("contact_id", nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        *(
            sa.Column(name, sa.Text)
            for name in (
                "campaign_id",
                "adset_id",
                "ad_id",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_term",
                "utm_content",
                "click_id",
                "click_id_type",
                "landing_url",
                "source_url",
                "referrer",
                "campaign_name",
                "adset_name",
                "ad_name",
            )
        ),
        _ts("enriched_at"),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trackings"),
    )
    op.create_index(
        "ix_trackings_tenant_id_contact_id_id",
        "trackings",
        ["tenant_id", "contact_id", sa.text("id DESC")],
    )
    op.create_index("ix_trackings_tenant_id_created_at", "trackings", ["tenant_id", "created_at"])
    op.create_index("ix_trackings_tenant_id_ad_id", "trackings", ["tenant_id", "ad_id"])
    op.create_index("ix_trackings_tenant_id_click_id", "trackings", ["tenant_id", "click_id"])

    op.create_table(
        "ad_spend_daily",
        _uuid("tenant_id", nullable=False),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("ad_id", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("campaign_id", sa.Text),
        sa.Column("adset_id", sa.Text),
        sa.Column("spend_cents", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text),
        sa.Column("impressions", sa.BigInteger),
        sa.Column("clicks", sa.BigInteger),
        sa.Column("leads", sa.BigInteger),
        sa.Column("raw", pg.JSONB),
        _ts("fetched_at", nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "platform", "ad_id", "day", name="pk_ad_spend_daily"),
    )
    op.create_index("ix_ad_spend_daily_tenant_id_day", "ad_spend_daily", ["tenant_id", "day"])

    op.create_table(
        "tracking_conversions",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        _uuid("tracking_id", nullable=False),
        _uuid("contact_id", nullable=False),
        sa.Column("event_name", sa.Text, nullable=False),
        sa.Column("value_cents", sa.BigInteger),
        sa.Column("currency", sa.Text),
        _ts("occurred_at", nullable=False),
        _ts("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tracking_conversions"),
    )
    op.create_index(
        "ix_tracking_conversions_tenant_id_occurred_at",
        "tracking_conversions",
        ["tenant_id", "occurred_at"],
    )
    op.create_index(
        "ix_tracking_conversions_tenant_id_tracking_id",
        "tracking_conversions",
        ["tenant_id", "tracking_id"],
    )


def upgrade() -> None:
    _pipelines()
    _tracking()
    for table in TENANT_TABLES:
        for statement in tenant_isolation_sql(table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.drop_table(table)
