"""The click-to-WhatsApp lead, end to end, through the real paths: the fixture lead
(`message.ctwa_ad_referral.json`) posted signed to the WAHA webhook → ingested → a tracking
with the ad id and ctwa_clid → enriched from the ads stand-in (real Temporal dev server) →
the contact moved to a `won` stage through the API → exactly one CAPI event, whose hashed
phone follows Meta's normalisation → the attribution report shows 1 lead, 1 conversion, CPL.
"""

from __future__ import annotations

import hashlib
from datetime import date

import pytest

from tests.conftest import TenantLogin
from tests.integration import ads_kit
from tests.integration.ads_kit import AD_ID, CTWA_CLID, WABA_ID, Ads, integrate
from tests.integration.waha_kit import create_channel, fixture, post_webhook
from ventros.conversations.worker import ingest_pending
from ventros.kernel.events import DomainEvent
from ventros.tracking import handlers
from ventros.tracking.activities import SendResult
from ventros.tracking.conversions import hashed, normalise_email, normalise_phone
from ventros.tracking.enrichment import EnrichResult

pytestmark = pytest.mark.integration

# The shared fixtures of ads_kit, used here.
stand_in = ads_kit.stand_in
temporal = ads_kit.temporal
ads = ads_kit.ads
admin = ads_kit.admin

# Meta's own examples (Customer Information Parameters, "ph" and "em"): the documented
# normalised form and its SHA-256.
META_PHONE_EXAMPLE = ("+1 (650) 555-1234", "16505551234")
META_PHONE_HASH = "6069d14bf122fdfd931dc7beb58e5dfbba395b1faf05bdcd42d12358d63d8599"
META_EMAIL_EXAMPLE = ("John_Smith@gmail.com", "john_smith@gmail.com")
META_EMAIL_HASH = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
LEAD_PHONE_DIGITS = "5511962345871"  # the fixture's sender, 5511962345871@c.us


def test_phone_and_email_hashing_follows_metas_example_vectors() -> None:
    raw, normal = META_PHONE_EXAMPLE
    assert normalise_phone(raw) == normal
    assert hashed(raw, normalise_phone) == META_PHONE_HASH
    assert normalise_phone("001 650 555 1234") == normal  # the international 00 prefix
    assert hashed(META_PHONE_HASH.upper(), normalise_phone) == META_PHONE_HASH  # pre-hashed
    raw, normal = META_EMAIL_EXAMPLE
    assert normalise_email("  " + raw + " ") == normal
    assert hashed(raw, normalise_email) == META_EMAIL_HASH


async def _events(ads: Ads, admin: TenantLogin, name: str) -> list[DomainEvent]:
    return await ads.events(admin.tenant_id, name)


async def test_the_fixture_ad_lead_flows_from_webhook_to_capi_and_the_report(
    ads: Ads, admin: TenantLogin
) -> None:
    await integrate(
        ads,
        admin,
        "meta",
        config={"dataset_id": "777000111", "waba_id": WABA_ID},
        conversion_on_won=True,
        won_event_name="LeadSubmitted",
    )
    channel = await create_channel(ads.http, admin)

    # 1. WAHA posts the lead, signed; the real ingest path stores it.
    response = await post_webhook(ads.http, channel["id"], fixture("message.ctwa_ad_referral.json"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "stored"
    assert await ingest_pending(ads.container, tenant_id=admin.tenant_id) == 1

    contacts = await ads.http.get("/api/v1/contacts", headers=admin.headers)
    assert contacts.status_code == 200, contacts.text
    [contact] = contacts.json()["items"]
    assert contact["phone"].lstrip("+") == LEAD_PHONE_DIGITS
    contact_id = contact["id"]

    # 2. A tracking with the ad id and the ctwa_clid.
    shown = await ads.http.get(
        "/api/v1/trackings", params={"contact_id": contact_id}, headers=admin.headers
    )
    [tracking] = shown.json()["items"]
    assert tracking["ad_id"] == AD_ID
    assert (tracking["click_id"], tracking["click_id_type"]) == (CTWA_CLID, "ctwa_clid")
    assert tracking["source"] in ("facebook_ads", "instagram_ads")
    tracking_id = tracking["id"]

    # 3. Enriched from the stand-in by the enrichment workflow (tracking.created → ENRICH).
    [created] = [
        e
        for e in await _events(ads, admin, "tracking.created")
        if str(e.aggregate_id) == tracking_id
    ]
    await ads.handle(handlers.ENRICH, created)
    result = await ads.result(f"enrich-{tracking_id}", EnrichResult)
    assert result.outcome == "enriched"
    shown = await ads.http.get(
        "/api/v1/trackings", params={"contact_id": contact_id}, headers=admin.headers
    )
    [tracking] = shown.json()["items"]
    assert tracking["campaign_name"] == "Summer succulents 2025"
    assert tracking["campaign_id"] == "120226305854810600"

    # 4. The contact moves to a `won` stage through the API.
    pipeline = await ads.http.post(
        "/api/v1/pipelines",
        json={
            "name": "Exames",
            "stages": [{"name": "Novo", "kind": "open"}, {"name": "Agendou", "kind": "won"}],
        },
        headers=admin.headers,
    )
    assert pipeline.status_code == 201, pipeline.text
    stages = {s["name"]: s["id"] for s in pipeline.json()["stages"]}
    for stage in ("Novo", "Agendou"):
        moved = await ads.http.put(
            f"/api/v1/contacts/{contact_id}/pipeline",
            json={"pipeline_id": pipeline.json()["id"], "stage_id": stages[stage]},
            headers=admin.headers,
        )
        assert moved.status_code == 200, moved.text

    # 5. The consumers react (each event twice: a redelivery changes nothing) → one CAPI event.
    before = len(ads.stand_in.state.capi_events)
    changes = await _events(ads, admin, "contact.pipeline_status_changed")
    assert [e.payload["to_stage_kind"] for e in changes] == ["open", "won"]
    for event in changes + changes:
        await ads.handle(handlers.WON, event)
    results = []
    conversions = await _events(ads, admin, "tracking.conversion")
    assert len(conversions) == 1
    for event in conversions + conversions:
        await ads.handle(handlers.SEND, event)
        workflow_id = f"conversion-{event.payload['conversion_id']}"
        results.append(await ads.result(workflow_id, SendResult))
    assert {r.status for r in results} == {"sent"}
    [capi] = ads.stand_in.state.capi_events[before:]
    assert capi["event_name"] == "LeadSubmitted"
    assert capi["action_source"] == "business_messaging"
    assert capi["messaging_channel"] == "whatsapp"
    user = capi["user_data"]
    assert user["ctwa_clid"] == CTWA_CLID
    assert user["whatsapp_business_account_id"] == WABA_ID
    assert user["ph"] == [hashlib.sha256(LEAD_PHONE_DIGITS.encode()).hexdigest()]
    assert user["ph"] == [hashed("+55 11 96234-5871", normalise_phone)]
    assert user["external_id"] == [hashlib.sha256(contact_id.encode()).hexdigest()]

    # 6. The report: 1 lead, 1 conversion, spend and CPL of the day.
    today = date.today().isoformat()
    report = await ads.http.get(
        "/api/v1/reports/attribution",
        params={"group_by": "campaign", "from": today, "to": today},
        headers=admin.headers,
    )
    assert report.status_code == 200, report.text
    [row] = report.json()["items"]
    assert row["key"] == "120226305854810600"
    assert (row["leads"], row["conversions"]) == (1, 1)
    assert (row["spend_cents"], row["cpl_cents"]) == (2540, 2540)
