"""Request and response models of the tracking and attribution API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ventros.api.time_range import DateRangeRead
from ventros.tracking.domain import AttributionRow, ClickIdType, Source, Tracking

_ID = Field(default=None, max_length=200)
_UTM = Field(default=None, max_length=500)
_URL = Field(default=None, max_length=2048)


class TrackingCreate(BaseModel):
    """`source` may be left out: it is then classified from click id, UTM and referrer."""

    model_config = ConfigDict(extra="forbid")

    contact_id: uuid.UUID
    source: Source | None = None
    campaign_id: str | None = _ID
    adset_id: str | None = _ID
    ad_id: str | None = _ID
    utm_source: str | None = _UTM
    utm_medium: str | None = _UTM
    utm_campaign: str | None = _UTM
    utm_term: str | None = _UTM
    utm_content: str | None = _UTM
    click_id: str | None = Field(default=None, max_length=500)
    click_id_type: ClickIdType | None = None
    landing_url: str | None = _URL
    source_url: str | None = _URL
    referrer: str | None = _URL


class TrackingRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    contact_id: uuid.UUID
    source: Source
    campaign_id: str | None
    adset_id: str | None
    ad_id: str | None
    campaign_name: str | None
    adset_name: str | None
    ad_name: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    click_id: str | None
    click_id_type: ClickIdType | None
    landing_url: str | None
    source_url: str | None
    referrer: str | None
    enriched_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, tracking: Tracking) -> TrackingRead:
        return cls(
            id=tracking.id,
            tenant_id=tracking.tenant_id,
            contact_id=tracking.contact_id,
            source=tracking.source,
            campaign_id=tracking.campaign_id,
            adset_id=tracking.adset_id,
            ad_id=tracking.ad_id,
            campaign_name=tracking.campaign_name,
            adset_name=tracking.adset_name,
            ad_name=tracking.ad_name,
            utm_source=tracking.utm.source,
            utm_medium=tracking.utm.medium,
            utm_campaign=tracking.utm.campaign,
            utm_term=tracking.utm.term,
            utm_content=tracking.utm.content,
            click_id=tracking.click_id,
            click_id_type=tracking.click_id_type,
            landing_url=tracking.landing_url,
            source_url=tracking.source_url,
            referrer=tracking.referrer,
            enriched_at=tracking.enriched_at,
            created_at=tracking.created_at,
        )


class AttributionItem(BaseModel):
    key: str = Field(description="the source, or the campaign ('(none)' without one)")
    leads: int
    conversions: int
    spend_cents: int | None = Field(description="null until enrichment has fetched spend")
    cpl_cents: int | None
    revenue_cents: int
    roi: float | None = Field(description="(revenue - spend) / spend")

    @classmethod
    def of(cls, row: AttributionRow) -> AttributionItem:
        return cls(
            key=row.key,
            leads=row.leads,
            conversions=row.conversions,
            spend_cents=row.spend_cents,
            cpl_cents=row.cpl_cents,
            revenue_cents=row.revenue_cents,
            roi=row.roi,
        )


class AttributionReport(DateRangeRead):
    group_by: str
    model: str = Field(description="first_touch (default) or last_touch")
    items: list[AttributionItem]
