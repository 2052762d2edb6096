"""AttributeConversion end to end: the API (or a `won` stage) records the conversion once,
`tracking.conversion` starts its delivery workflow, the stand-in checks the wire format;
then the attribution report shows spend, CPL and ROI."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date

import pytest

from tests.conftest import TenantLogin
from tests.integration import ads_kit
from tests.integration.ads_kit import (
    CTWA_CLID,
    WABA_ID,
    Ads,
    enrich,
    integrate,
    lead,
)
from ventros.kernel.events import DomainEvent
from ventros.tracking import handlers
from ventros.tracking.activities import SendResult

pytestmark = pytest.mark.integration

# The shared fixtures of ads_kit, used here.
stand_in = ads_kit.stand_in
temporal = ads_kit.temporal
ads = ads_kit.ads
admin = ads_kit.admin

PH = "6069d14bf122fdfd931dc7beb58e5dfbba395b1faf05bdcd42d12358d63d8599"  # sha256 16505551234
EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"  # Meta's vector


async def _deliver(ads: Ads, admin: TenantLogin) -> list[SendResult]:
    """Runs the send consumer on every `tracking.conversion` so far (again: no effect)."""
    results = []
    for event in await ads.events(admin.tenant_id, "tracking.conversion"):
        await ads.handle(handlers.SEND, event)
        if event.payload["platform"]:
            workflow_id = f"conversion-{event.payload['conversion_id']}"
            results.append(await ads.result(workflow_id, SendResult))
    return results


async def test_a_capi_conversion_carries_the_documented_fields_and_is_sent_once(
    ads: Ads, admin: TenantLogin
) -> None:
    await integrate(ads, admin, "meta", config={"dataset_id": "777000111", "waba_id": WABA_ID})
    contact_id, tracking_id = await lead(ads, admin)
    await enrich(ads, admin, tracking_id)
    body = {"event_name": "Purchase", "value_cents": 12345, "currency": "usd"}
    url = f"/api/v1/trackings/{tracking_id}/conversions"

    first = await ads.http.post(url, json=body, headers=admin.headers)
    again = await ads.http.post(url, json=body, headers=admin.headers)
    before = len(ads.stand_in.state.capi_events)
    results = await _deliver(ads, admin)
    await _deliver(ads, admin)  # a redelivered event sends nothing more

    assert first.status_code == again.status_code == 202
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert first.json()["id"] == again.json()["id"]
    assert [r.status for r in results] == ["sent"]
    [event] = ads.stand_in.state.capi_events[before:]
    conversion_id = first.json()["id"]
    assert event == {
        "event_name": "Purchase",
        "event_time": event["event_time"],
        "event_id": event["event_id"],
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "user_data": {
            "whatsapp_business_account_id": WABA_ID,
            "ctwa_clid": CTWA_CLID,
            "ph": [PH],
            "em": [EM],
            "external_id": [hashlib.sha256(contact_id.encode()).hexdigest()],
        },
        "custom_data": {"currency": "USD", "value": 123.45},
    }
    assert event["event_id"].startswith(f"{tracking_id}.Purchase.")
    [delivery] = (await ads.http.get(url, headers=admin.headers)).json()
    assert (delivery["id"], delivery["status"], delivery["attempts"]) == (conversion_id, "sent", 1)
    assert delivery["response"]["events_received"] == 1

    today = date.today().isoformat()
    report = await ads.http.get(
        "/api/v1/reports/attribution",
        params={"group_by": "campaign", "from": today, "to": today},
        headers=admin.headers,
    )
    [row] = report.json()["items"]
    assert row["key"] == "120226305854810600"
    assert (row["leads"], row["conversions"], row["revenue_cents"]) == (1, 1, 12345)
    assert (row["spend_cents"], row["cpl_cents"]) == (2540, 2540)
    assert row["roi"] == pytest.approx((12345 - 2540) / 2540)


async def test_entering_a_won_stage_sends_one_conversion_even_when_it_happens_twice(
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
    contact_id, _ = await lead(ads, admin)
    pipeline_id = str(uuid.uuid4())
    before = len(ads.stand_in.state.capi_events)
    for kind in ("won", "open", "won"):
        moved = DomainEvent(
            name="contact.pipeline_status_changed",
            tenant_id=admin.tenant_id,
            aggregate_type="contact",
            aggregate_id=uuid.UUID(contact_id),
            payload={
                "contact_id": contact_id,
                "pipeline_id": pipeline_id,
                "from_stage_id": None,
                "to_stage_id": str(uuid.uuid4()),
                "to_stage_kind": kind,
            },
        )
        await ads.handle(handlers.WON, moved)

    results = await _deliver(ads, admin)

    assert [r.status for r in results] == ["sent"]
    [event] = ads.stand_in.state.capi_events[before:]
    assert event["event_name"] == "LeadSubmitted"
    assert event["user_data"]["ctwa_clid"] == CTWA_CLID
    assert "custom_data" not in event


async def test_a_google_partial_failure_is_recorded_on_the_delivery(
    ads: Ads, admin: TenantLogin
) -> None:
    await integrate(
        ads,
        admin,
        "google",
        developer_token="stand-in-developer-token",
        config={"customer_id": "1234567890", "conversion_action_id": "987654321"},
    )
    known = "Cj0KCQjwexampleGclidValue_Known"
    ads.stand_in.state.google_known_clicks.add(known)
    _, good = await lead(ads, admin, click_id=known, click_id_type="gclid", ad_id=None)
    _, bad = await lead(
        ads,
        admin,
        click_id="0AAAAAexampleGbraid",
        click_id_type="gbraid",
        ad_id=None,
        phone="+16505551299",
        email="other@example.com",
    )
    body = {"event_name": "Purchase", "value_cents": 8000, "currency": "USD"}
    for tracking_id in (good, bad):
        response = await ads.http.post(
            f"/api/v1/trackings/{tracking_id}/conversions", json=body, headers=admin.headers
        )
        assert response.status_code == 202, response.text
        assert response.json()["platform"] == "google"

    results = await _deliver(ads, admin)

    assert sorted(r.status for r in results) == ["failed", "sent"]
    [sent] = (
        await ads.http.get(f"/api/v1/trackings/{good}/conversions", headers=admin.headers)
    ).json()
    assert sent["status"] == "sent"
    assert sent["request"]["conversions"][0]["gclid"] == known
    assert sent["request"]["partialFailure"] is True
    [failed] = (
        await ads.http.get(f"/api/v1/trackings/{bad}/conversions", headers=admin.headers)
    ).json()
    assert failed["status"] == "failed"
    assert failed["attempts"] == 1  # EVENT_NOT_FOUND is final: not retried
    assert "EVENT_NOT_FOUND" in failed["error"]
    assert failed["response"]["results"] == [{}]
    assert failed["response"]["partialFailureError"]["code"] == 3


async def test_a_lead_with_no_ad_click_id_records_a_skipped_conversion(
    ads: Ads, admin: TenantLogin
) -> None:
    response = await ads.http.post(
        "/api/v1/contacts", json={"name": "Walk-in"}, headers=admin.headers
    )
    contact_id = response.json()["id"]
    tracking = await ads.http.post(
        "/api/v1/trackings",
        json={"contact_id": contact_id, "source": "direct"},
        headers=admin.headers,
    )
    done = await ads.http.post(
        f"/api/v1/trackings/{tracking.json()['id']}/conversions",
        json={"event_name": "Purchase", "value_cents": 100, "currency": "BRL"},
        headers=admin.headers,
    )
    assert done.status_code == 202
    assert (done.json()["platform"], done.json()["status"]) == (None, "skipped")
    assert await _deliver(ads, admin) == []
