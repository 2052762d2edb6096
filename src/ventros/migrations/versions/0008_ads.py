"""Ad platforms: integrations (secrets sealed), enrichment state, conversion deliveries.

Revision ID: 0008_ads
Revises: 0007_conversations_lifecycle
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from ventros.platform.rls import tenant_isolation_sql

revision: str = "0008_ads"
down_revision: str | None = "0007_conversations_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = ("ad_integrations", "tracking_enrichments", "conversion_deliveries")


def _uuid(name: str, **kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, pg.UUID(as_uuid=True), **kw)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ad_integrations",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        sa.Column("platform", sa.Text, nullable=False),
        sa.Column("secrets_sealed", sa.Text, nullable=False),
        sa.Column("config", pg.JSONB, nullable=False),
        sa.Column("conversion_on_won", sa.Boolean, nullable=False),
        sa.Column("won_event_name", sa.Text, nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ad_integrations"),
        sa.UniqueConstraint("tenant_id", "platform", name="uq_ad_integrations_tenant_id_platform"),
    )
    op.create_table(
        "tracking_enrichments",
        _uuid("tenant_id", nullable=False),
        _uuid("tracking_id", nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("tracking_id", name="pk_tracking_enrichments"),
    )
    op.create_table(
        "conversion_deliveries",
        _uuid("id"),
        _uuid("tenant_id", nullable=False),
        _uuid("tracking_id", nullable=False),
        sa.Column("dedup_key", sa.Text, nullable=False),
        sa.Column("platform", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("request", pg.JSONB),
        sa.Column("response", pg.JSONB),
        sa.Column("error", sa.Text),
        _ts("sent_at"),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversion_deliveries"),
        sa.UniqueConstraint(
            "tenant_id", "dedup_key", name="uq_conversion_deliveries_tenant_id_dedup_key"
        ),
    )
    op.create_index(
        "ix_conversion_deliveries_tenant_id_tracking_id",
        "conversion_deliveries",
        ["tenant_id", "tracking_id"],
    )
    for table in TENANT_TABLES:
        for statement in tenant_isolation_sql(table):
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("conversion_deliveries")
    op.drop_table("tracking_enrichments")
    op.drop_table("ad_integrations")
