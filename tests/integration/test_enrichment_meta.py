"""EnrichTracking against the ads stand-in and a real Temporal dev server: names and spend,
`tracking.enriched`, Meta throttling (HTTP 400 code 17) retried, an invalid token recorded."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tests.conftest import TenantLogin
from tests.integration import ads_kit
from tests.integration.ads_kit import (
    AD_ID,
    WABA_ID,
    Ads,
    enrich,
    integrate,
    lead,
)
from ventros.kernel.events import Actor
from ventros.tracking.repository import ad_spend_daily
from ventros.tracking.repository.ads_tables import tracking_enrichments

pytestmark = pytest.mark.integration

# The shared fixtures of ads_kit, used here.
stand_in = ads_kit.stand_in
temporal = ads_kit.temporal
ads = ads_kit.ads
admin = ads_kit.admin


async def _spend_days(ads: Ads, admin: TenantLogin) -> list[tuple[str, int, int | None]]:
    async with ads.container.uow(admin.tenant_id, Actor.system()) as tx:
        rows = await tx.connection.execute(
            select(ad_spend_daily).where(ad_spend_daily.c.ad_id == AD_ID).order_by("day")
        )
        return [(r.campaign_id, r.spend_cents, r.leads) for r in rows]


async def test_enrichment_fills_names_and_daily_spend_and_raises_tracking_enriched(
    ads: Ads, admin: TenantLogin
) -> None:
    await integrate(ads, admin, "meta", config={"dataset_id": "555", "waba_id": WABA_ID})
    contact_id, tracking_id = await lead(ads, admin)

    result = await enrich(ads, admin, tracking_id)

    assert result.outcome == "enriched"
    shown = await ads.http.get(
        "/api/v1/trackings", params={"contact_id": contact_id}, headers=admin.headers
    )
    [tracking] = shown.json()["items"]
    assert tracking["ad_name"] == "CTWA | Summer succulents | Image A"
    assert tracking["adset_id"] == "120226305854810700"
    assert tracking["adset_name"] == "Succulents | BR | 25-45"
    assert tracking["campaign_id"] == "120226305854810600"
    assert tracking["campaign_name"] == "Summer succulents 2025"
    assert tracking["enriched_at"] is not None
    days = await _spend_days(ads, admin)
    assert len(days) == ads.container.settings.ads_insights_lookback_days + 1
    assert set(days) == {("120226305854810600", 2540, 12)}
    [enriched] = await ads.events(admin.tenant_id, "tracking.enriched")
    assert enriched.payload["campaign_name"] == "Summer succulents 2025"
    assert enriched.payload["spend_cents"] == 2540 * len(days)


async def test_a_throttled_graph_answer_is_retried_with_backoff_and_then_succeeds(
    ads: Ads, admin: TenantLogin
) -> None:
    await integrate(ads, admin, "meta", config={"dataset_id": "555", "waba_id": WABA_ID})
    _, tracking_id = await lead(ads, admin)
    calls_before = len(ads.stand_in.state.graph_calls)
    ads.stand_in.throttle_next(2, code=17)

    result = await enrich(ads, admin, tracking_id)

    assert result.outcome == "enriched"
    assert len(ads.stand_in.state.graph_calls) - calls_before >= 3  # 2 throttled, then work
    async with ads.container.uow(admin.tenant_id, Actor.system()) as tx:
        status = (
            await tx.connection.execute(
                select(tracking_enrichments.c.status).where(
                    tracking_enrichments.c.tracking_id == uuid.UUID(tracking_id)
                )
            )
        ).scalar_one()
    assert status == "enriched"


async def test_an_invalid_token_ends_in_a_recorded_failure_not_a_retry_loop(
    ads: Ads, admin: TenantLogin
) -> None:
    await integrate(ads, admin, "meta", access_token="expired-token", config={"dataset_id": "5"})
    _, tracking_id = await lead(ads, admin)
    calls_before = len(ads.stand_in.state.graph_calls)

    result = await enrich(ads, admin, tracking_id)

    assert result.outcome == "failed"
    assert "190" in result.error
    assert len(ads.stand_in.state.graph_calls) - calls_before == 1  # not retried
    async with ads.container.uow(admin.tenant_id, Actor.system()) as tx:
        row = (
            await tx.connection.execute(
                select(tracking_enrichments).where(
                    tracking_enrichments.c.tracking_id == uuid.UUID(tracking_id)
                )
            )
        ).one()
    assert row.status == "failed"
    assert "Invalid OAuth access token" in row.error
    assert await ads.events(admin.tenant_id, "tracking.enriched") == []


async def test_ad_integration_tokens_are_sealed_and_never_returned(
    ads: Ads, admin: TenantLogin
) -> None:
    shown = await integrate(ads, admin, "meta", config={"dataset_id": "555"})
    assert shown["secrets_set"] == ["access_token"]
    listed = await ads.http.get("/api/v1/ad-integrations", headers=admin.headers)
    assert "stand-in-token" not in listed.text
    async with ads.container.uow(admin.tenant_id, Actor.system()) as tx:
        from ventros.tracking.repository.ads_tables import ad_integrations

        sealed = (
            await tx.connection.execute(select(ad_integrations.c.secrets_sealed))
        ).scalar_one()
    assert sealed.startswith("v1.")
    assert "stand-in-token" not in sealed
