"""Tables of ad-platform integrations, enrichment state and conversion deliveries
(migration 0008_ads). The spend cache (`ad_spend_daily`) and the conversions the report
reads (`tracking_conversions`) live in `repository.py`."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from ventros.platform.db import metadata

# One per tenant and platform (meta | google | tiktok). Secrets sealed (SecretBox), as JSON.
ad_integrations = Table(
    "ad_integrations",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("platform", Text, nullable=False),
    Column("secrets_sealed", Text, nullable=False),
    Column("config", JSONB, nullable=False),
    Column("conversion_on_won", Boolean, nullable=False),
    Column("won_event_name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "platform", name="uq_ad_integrations_tenant_id_platform"),
)

# The outcome of each tracking's enrichment: enriched | failed (with the platform's error).
tracking_enrichments = Table(
    "tracking_enrichments",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("tracking_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tracking_id", name="pk_tracking_enrichments"),
)

# One per conversion (same id as its tracking_conversions row): where it goes, and how its
# delivery went. `dedup_key` is unique per tenant: the same conversion is never sent twice.
conversion_deliveries = Table(
    "conversion_deliveries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("tracking_id", UUID(as_uuid=True), nullable=False),
    Column("dedup_key", Text, nullable=False),
    Column("platform", Text),
    Column("status", Text, nullable=False),  # pending | sent | failed | skipped
    Column("attempts", Integer, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("request", JSONB),
    Column("response", JSONB),
    Column("error", Text),
    Column("sent_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "dedup_key", name="uq_conversion_deliveries_tenant_id_dedup_key"),
    Index("ix_conversion_deliveries_tenant_id_tracking_id", "tenant_id", "tracking_id"),
)
