"""Persistence of trackings; the ad spend and conversion tables the attribution report reads."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    PrimaryKeyConstraint,
    Row,
    Table,
    Text,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork
from ventros.tracking.domain import (
    NO_CAMPAIGN,
    AttributionRow,
    ClickIdType,
    GroupBy,
    Model,
    Source,
    Tracking,
    Utm,
)

trackings = Table(
    "trackings",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("contact_id", UUID(as_uuid=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("campaign_id", Text),
    Column("adset_id", Text),
    Column("ad_id", Text),
    Column("utm_source", Text),
    Column("utm_medium", Text),
    Column("utm_campaign", Text),
    Column("utm_term", Text),
    Column("utm_content", Text),
    Column("click_id", Text),
    Column("click_id_type", Text),
    Column("landing_url", Text),
    Column("source_url", Text),
    Column("referrer", Text),
    Column("campaign_name", Text),
    Column("adset_name", Text),
    Column("ad_name", Text),
    Column("enriched_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_trackings_tenant_id_contact_id_id", "tenant_id", "contact_id", text("id DESC")),
    Index("ix_trackings_tenant_id_created_at", "tenant_id", "created_at"),
    Index("ix_trackings_tenant_id_ad_id", "tenant_id", "ad_id"),
    Index("ix_trackings_tenant_id_click_id", "tenant_id", "click_id"),
)

# Filled by enrichment (ad platform insights), one row per ad and day.
ad_spend_daily = Table(
    "ad_spend_daily",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("platform", Text, nullable=False),
    Column("ad_id", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("campaign_id", Text),
    Column("adset_id", Text),
    Column("spend_cents", BigInteger, nullable=False),
    Column("currency", Text),
    Column("impressions", BigInteger),
    Column("clicks", BigInteger),
    Column("leads", BigInteger),
    Column("raw", JSONB),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "platform", "ad_id", "day"),
    Index("ix_ad_spend_daily_tenant_id_day", "tenant_id", "day"),
)

# Conversions attributed to a tracking (AttributeConversion fills it; delivery is elsewhere).
tracking_conversions = Table(
    "tracking_conversions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("tracking_id", UUID(as_uuid=True), nullable=False),
    Column("contact_id", UUID(as_uuid=True), nullable=False),
    Column("event_name", Text, nullable=False),
    Column("value_cents", BigInteger),
    Column("currency", Text),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_tracking_conversions_tenant_id_occurred_at", "tenant_id", "occurred_at"),
    Index("ix_tracking_conversions_tenant_id_tracking_id", "tenant_id", "tracking_id"),
)


def _values(tracking: Tracking) -> dict[str, Any]:
    return {
        "id": tracking.id,
        "tenant_id": tracking.tenant_id,
        "contact_id": tracking.contact_id,
        "source": tracking.source.value,
        "campaign_id": tracking.campaign_id,
        "adset_id": tracking.adset_id,
        "ad_id": tracking.ad_id,
        "utm_source": tracking.utm.source,
        "utm_medium": tracking.utm.medium,
        "utm_campaign": tracking.utm.campaign,
        "utm_term": tracking.utm.term,
        "utm_content": tracking.utm.content,
        "click_id": tracking.click_id,
        "click_id_type": tracking.click_id_type.value if tracking.click_id_type else None,
        "landing_url": tracking.landing_url,
        "source_url": tracking.source_url,
        "referrer": tracking.referrer,
        "campaign_name": tracking.campaign_name,
        "adset_name": tracking.adset_name,
        "ad_name": tracking.ad_name,
        "enriched_at": tracking.enriched_at,
        "created_at": tracking.created_at,
    }


def _from_row(row: Row[Any]) -> Tracking:
    return Tracking(
        id=row.id,
        tenant_id=row.tenant_id,
        contact_id=row.contact_id,
        source=Source(row.source),
        campaign_id=row.campaign_id,
        adset_id=row.adset_id,
        ad_id=row.ad_id,
        utm=Utm(row.utm_source, row.utm_medium, row.utm_campaign, row.utm_term, row.utm_content),
        click_id=row.click_id,
        click_id_type=ClickIdType(row.click_id_type) if row.click_id_type else None,
        landing_url=row.landing_url,
        source_url=row.source_url,
        referrer=row.referrer,
        campaign_name=row.campaign_name,
        adset_name=row.adset_name,
        ad_name=row.ad_name,
        enriched_at=row.enriched_at,
        created_at=row.created_at,
    )


class TrackingRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def add(self, tracking: Tracking) -> None:
        await self._uow.connection.execute(trackings.insert().values(**_values(tracking)))
        self._uow.track(tracking)

    async def get(self, tracking_id: uuid.UUID) -> Tracking | None:
        query = select(trackings).where(trackings.c.id == tracking_id)
        row = (await self._uow.connection.execute(query)).first()
        return self._uow.track(_from_row(row)) if row else None

    async def list(
        self, *, contact_id: uuid.UUID | None, limit: int, before: uuid.UUID | None
    ) -> list[Tracking]:
        query = select(trackings).order_by(trackings.c.id.desc()).limit(limit)
        if contact_id is not None:
            query = query.where(trackings.c.contact_id == contact_id)
        if before is not None:
            query = query.where(trackings.c.id < before)
        return [_from_row(row) for row in await self._uow.connection.execute(query)]


_KEYS = {
    GroupBy.SOURCE: "t.source",
    GroupBy.CAMPAIGN: f"coalesce(t.campaign_id, t.utm_campaign, '{NO_CAMPAIGN}')",
}

# The attribution model (docs/attribution.md). A lead is a contact whose FIRST tracking
# falls in the range; it counts once, under the key of its model touch: its first tracking
# (first touch), or its latest one before the range ends (last touch). Conversions in the
# range are credited to the same touch of their contact, so leads, revenue and ROI agree.
# Spend: each ad's daily spend in the range, under the key of the ad's first tracking;
# NULL for keys no spend row reaches.
_ATTRIBUTION_SQL = """
WITH keyed AS (
    SELECT t.id, t.contact_id, t.ad_id, t.created_at, {key} AS key
    FROM trackings t WHERE t.tenant_id = :tenant_id AND t.created_at < :to_
),
touch AS (
    SELECT DISTINCT ON (contact_id) contact_id, key FROM keyed
    ORDER BY contact_id, created_at {order}, id {order}
),
first_seen AS (
    SELECT contact_id, min(created_at) AS at FROM keyed GROUP BY contact_id
),
leads AS (
    SELECT t.key, count(*) AS leads
    FROM first_seen f JOIN touch t ON t.contact_id = f.contact_id
    WHERE f.at >= :from_ GROUP BY t.key
),
conversions AS (
    SELECT t.key, count(*) AS conversions, coalesce(sum(c.value_cents), 0) AS revenue
    FROM tracking_conversions c JOIN touch t ON t.contact_id = c.contact_id
    WHERE c.tenant_id = :tenant_id AND c.occurred_at >= :from_ AND c.occurred_at < :to_
    GROUP BY t.key
),
ads AS (
    SELECT DISTINCT ON (ad_id) ad_id, key FROM keyed
    WHERE ad_id IS NOT NULL ORDER BY ad_id, created_at
),
spend AS (
    SELECT a.key, sum(s.spend_cents) AS spend
    FROM ad_spend_daily s JOIN ads a ON a.ad_id = s.ad_id
    WHERE s.tenant_id = :tenant_id AND s.day >= :from_day AND s.day <= :to_day
    GROUP BY a.key
)
SELECT coalesce(l.key, c.key, s.key) AS key,
       coalesce(l.leads, 0) AS leads,
       coalesce(c.conversions, 0) AS conversions,
       coalesce(c.revenue, 0) AS revenue,
       s.spend
FROM leads l
FULL JOIN conversions c ON c.key = l.key
FULL JOIN spend s ON s.key = coalesce(l.key, c.key)
ORDER BY leads DESC, key
"""
_TOUCH_ORDER = {Model.FIRST_TOUCH: "ASC", Model.LAST_TOUCH: "DESC"}


async def attribution(
    uow: UnitOfWork,
    group_by: GroupBy,
    *,
    since: datetime,
    until: datetime,
    model: Model = Model.FIRST_TOUCH,
) -> list[AttributionRow]:
    # Spend is per (UTC) day: a day counts when the range [since, until) covers part of it.
    midnight = until.timetz().replace(tzinfo=None) == time()
    last_day = until.date() - timedelta(days=1) if midnight else until.date()
    rows = await uow.connection.execute(
        text(_ATTRIBUTION_SQL.format(key=_KEYS[group_by], order=_TOUCH_ORDER[model])),
        {
            "tenant_id": uow.tenant_id,
            "from_": since,
            "to_": until,
            "from_day": since.date(),
            "to_day": last_day,
        },
    )
    return [
        AttributionRow(
            key=row.key,
            leads=int(row.leads),
            conversions=int(row.conversions),
            revenue_cents=int(row.revenue),
            spend_cents=None if row.spend is None else int(row.spend),
        )
        for row in rows
    ]


async def reassign_contact(uow: UnitOfWork, from_id: uuid.UUID, to_id: uuid.UUID) -> int:
    """Moves a contact's trackings and conversions to another contact (contact merge)."""
    connection = uow.connection
    moved = await connection.execute(
        trackings.update().where(trackings.c.contact_id == from_id).values(contact_id=to_id)
    )
    await connection.execute(
        tracking_conversions.update()
        .where(tracking_conversions.c.contact_id == from_id)
        .values(contact_id=to_id)
    )
    return int(moved.rowcount or 0)
