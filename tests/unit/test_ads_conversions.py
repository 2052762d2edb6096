"""Conversion payloads: Meta's normalisation and hashing (its own test vectors), the CAPI
business-messaging event shape of the fixtures, Google rows and partial-failure mapping."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ventros.kernel.errors import RuleViolation
from ventros.tracking import conversions as c
from ventros.tracking.ad_clients import meta_error
from ventros.tracking.domain import ClickIdType, Source, Tracking
from ventros.tracking.enrichment import cents, day_spend
from ventros.tracking.integrations import Integration, Platform

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ads"
CTWA = json.loads((FIXTURES / "capi_request.json").read_text())["data"][1]["user_data"]["ctwa_clid"]


def _fixture(name: str) -> dict[str, object]:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {name} not available")
    return dict(json.loads(path.read_text()))


def _tracking(kind: ClickIdType, click_id: str) -> Tracking:
    return Tracking.create(
        tenant_id=uuid.uuid4(),
        contact_id=uuid.uuid4(),
        source=Source.FACEBOOK_ADS,
        ad_id="120226305854810726",
        click_id=click_id,
        click_id_type=kind,
    )


def _conversion(name: str = "Purchase", value: int | None = 12345) -> c.Conversion:
    return c.Conversion(
        uuid.uuid4(),
        "lead-000123.Purchase",
        name,
        value,
        "USD" if value is not None else None,
        datetime(2025, 6, 19, 18, 15, tzinfo=UTC),
    )


META = Integration(Platform.META, {"access_token": "t"}, {"waba_id": "102290129340398"})


def test_meta_phone_and_email_hashes_match_metas_own_example_vectors() -> None:
    assert c.normalise_phone("(650)555-1212") == "6505551212"
    assert c.normalise_phone("+1 (650) 555-1212") == "16505551212"
    assert (
        c.hashed("+1 (650) 555-1212", c.normalise_phone)
        == "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
    )
    assert (
        c.hashed("  John_Smith@gmail.com ", c.normalise_email)
        == "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
    )


def test_a_leading_international_zero_prefix_is_dropped_and_a_hash_passes_through() -> None:
    assert c.normalise_phone("0016505551234") == "16505551234"
    digest = "6069d14bf122fdfd931dc7beb58e5dfbba395b1faf05bdcd42d12358d63d8599"
    assert c.hashed("+16505551234", c.normalise_phone) == digest  # the fixture's ph
    assert c.hashed(digest.upper(), c.normalise_phone) == digest


def test_a_ctwa_purchase_is_a_whatsapp_business_messaging_event_like_the_fixture() -> None:
    tracking = _tracking(ClickIdType.CTWA_CLID, CTWA)
    person = c.Person(phone="+16505551234", email="John_Smith@gmail.com")
    event = c.meta_event(_conversion(), tracking, person, META)
    expected = _fixture("capi_request.json")["data"][1]  # type: ignore[index]
    assert set(event) == set(expected)
    assert event["action_source"] == "business_messaging"
    assert event["messaging_channel"] == "whatsapp"
    assert event["user_data"]["ctwa_clid"] == CTWA
    assert event["user_data"]["whatsapp_business_account_id"] == "102290129340398"
    assert event["user_data"]["ph"] == expected["user_data"]["ph"]
    assert event["user_data"]["em"] == expected["user_data"]["em"]
    assert event["custom_data"] == {"currency": "USD", "value": 123.45}
    assert event["event_time"] == int(datetime(2025, 6, 19, 18, 15, tzinfo=UTC).timestamp())


def test_lead_becomes_lead_submitted_and_unknown_names_are_refused_for_whatsapp() -> None:
    tracking = _tracking(ClickIdType.CTWA_CLID, CTWA)
    event = c.meta_event(_conversion("Lead", None), tracking, c.Person(), META)
    assert event["event_name"] == "LeadSubmitted"
    assert "custom_data" not in event
    with pytest.raises(RuleViolation):
        c.meta_event(_conversion("Schedule", None), tracking, c.Person(), META)


def test_the_platform_follows_the_click_id() -> None:
    assert c.platform_of(_tracking(ClickIdType.CTWA_CLID, "x")) is Platform.META
    assert c.platform_of(_tracking(ClickIdType.GBRAID, "x")) is Platform.GOOGLE
    assert c.platform_of(_tracking(ClickIdType.TTCLID, "x")) is Platform.TIKTOK


def test_a_google_row_carries_one_click_id_and_a_zoned_date_time() -> None:
    google = Integration(
        Platform.GOOGLE,
        {"access_token": "t", "developer_token": "d"},
        {"customer_id": "1234567890", "conversion_action_id": "987654321"},
    )
    row = c.google_conversion(_conversion(), _tracking(ClickIdType.GCLID, "Cj0K"), google)
    assert row == {
        "gclid": "Cj0K",
        "conversionAction": "customers/1234567890/conversionActions/987654321",
        "conversionDateTime": "2025-06-19 18:15:00+00:00",
        "orderId": "lead-000123.Purchase",
        "conversionValue": 123.45,
        "currencyCode": "USD",
    }


def test_google_partial_failure_is_mapped_back_to_its_row() -> None:
    response = _fixture("google_upload_click_conversions_response.json")
    assert c.google_row_error(response, 0) is None
    code, message = c.google_row_error(response, 1) or ("", "")
    assert code == "EVENT_NOT_FOUND"
    assert "could not be attributed" in message


def test_meta_throttling_is_a_transient_error_although_it_comes_as_http_400() -> None:
    body = _fixture("capi_error_rate_limit.json")
    error = meta_error(httpx.Response(400, json=body))
    assert (error.code, error.subcode, error.throttled, error.transient) == (
        17,
        2446079,
        True,
        True,
    )
    for code in (4, 32, 613, 80004):
        answer = httpx.Response(400, json={"error": {"code": code, "message": "slow down"}})
        assert meta_error(answer).throttled
    invalid = httpx.Response(400, json={"error": {"code": 190, "message": "Invalid OAuth"}})
    assert not meta_error(invalid).transient


def test_the_wait_meta_asks_for_is_honoured() -> None:
    usage = {"123": [{"type": "ads_insights", "estimated_time_to_regain_access": 3}]}
    answer = httpx.Response(
        400,
        json={"error": {"code": 80000, "message": "too many"}},
        headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    assert meta_error(answer).retry_after_seconds == 180


def test_insights_rows_become_spend_days_in_cents() -> None:
    rows = _fixture("insights_response.json")["data"]
    days = [day_spend(row) for row in rows]  # type: ignore[attr-defined]
    assert [(d.day.isoformat(), d.spend_cents, d.leads, d.clicks) for d in days] == [
        ("2025-06-18", 2540, 12, 96),
        ("2025-06-19", 3175, 15, 121),
    ]
    assert cents("0.005") == 1
    assert cents("bad") == 0
