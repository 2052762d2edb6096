"""Profile pictures from the WAHA stand-in, and leads tracked from their first message."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest, rows
from tests.stand_ins.waha import PICTURE_URL, WahaStandIn
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

CTWA_CLID = fixture("message.ctwa_ad_referral.json")["payload"]["_data"]["message"][
    "extendedTextMessage"
]["contextInfo"]["externalAdReply"]["ctwaClid"]


async def contact_of(client: httpx.AsyncClient, tenant: TenantLogin, phone: str) -> dict[str, Any]:
    found = await client.get("/api/v1/contacts", params={"q": phone}, headers=tenant.headers)
    items: list[dict[str, Any]] = found.json()["items"]
    assert len(items) == 1, items
    return items[0]


async def test_a_profile_picture_refresh_fetches_the_picture_from_waha(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: WahaStandIn
) -> None:
    channel = await create_channel(client, tenant, base_url=waha.base_url)
    await deliver(client, channel["id"], "message.text.json")
    await ingest(container, tenant)
    contact = await contact_of(client, tenant, "976543210")
    assert contact["profile_picture_url"] is None

    response = await client.post(
        f"/api/v1/contacts/{contact['id']}/profile-picture/refresh", headers=tenant.headers
    )
    assert response.status_code == 202, response.text

    request = waha.requests[-1]
    assert request.path == "/api/contacts/profile-picture"
    assert request.query == {
        "contactId": "5511976543210@c.us",
        "session": "default",
        "refresh": "true",
    }
    assert request.headers["X-Api-Key"] == "waha-api-key-123"
    again = await client.get(f"/api/v1/contacts/{contact['id']}", headers=tenant.headers)
    assert again.json()["profile_picture_url"] == PICTURE_URL
    events = await rows(
        container,
        tenant,
        "SELECT data FROM domain_events WHERE name = 'contact.profile_picture_updated'",
    )
    assert [e.data["profile_picture_url"] for e in events] == [PICTURE_URL]


async def test_refreshing_an_unknown_contacts_picture_is_404(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    response = await client.post(
        f"/api/v1/contacts/{uuid.uuid4()}/profile-picture/refresh", headers=tenant.headers
    )
    assert response.status_code == 404


async def test_a_click_to_whatsapp_referral_creates_a_tracking(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    later = fixture("message.ctwa_ad_referral.json")
    later["id"] = "evt_01ky2ef894f4sfvfk1hxxgrhzz"
    later["payload"]["id"] = later["payload"]["id"][:-4] + "FFFF"
    await deliver(client, channel["id"], "message.ctwa_ad_referral.json")
    await ingest(container, tenant)
    await deliver(client, channel["id"], later)  # not the first message: no new tracking
    await ingest(container, tenant)
    contact = await contact_of(client, tenant, "962345871")
    found = await client.get(
        "/api/v1/trackings", params={"contact_id": contact["id"]}, headers=tenant.headers
    )
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    assert len(items) == 1, json.dumps(items)
    tracking = items[0]
    assert tracking["source"] == "facebook_ads"
    assert tracking["ad_id"] == "120226305854810726"
    assert tracking["click_id"] == CTWA_CLID
    assert tracking["click_id_type"] == "ctwa_clid"


async def test_a_first_message_with_utm_parameters_creates_a_tracking(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    text = fixture("message.text.json")
    text["payload"]["body"] = (
        "Oi! Vim pelo link https://otica.example/promo?utm_source=google&utm_medium=cpc"
        "&utm_campaign=exame&gclid=Cj0KCQ-abc123."
    )
    text["payload"]["timestamp"] = int(time.time())
    await deliver(client, channel["id"], text)
    await ingest(container, tenant)
    contact = await contact_of(client, tenant, "976543210")
    found = await client.get(
        "/api/v1/trackings", params={"contact_id": contact["id"]}, headers=tenant.headers
    )
    items = found.json()["items"]
    assert len(items) == 1, items
    assert items[0]["source"] == "google_ads"
    assert items[0]["click_id"] == "Cj0KCQ-abc123"
    assert items[0]["utm_campaign"] == "exame"


async def test_a_plain_first_message_creates_no_tracking(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel = await create_channel(client, tenant)
    await deliver(client, channel["id"], "message.text.json")
    await ingest(container, tenant)
    contact = await contact_of(client, tenant, "976543210")
    found = await client.get(
        "/api/v1/trackings", params={"contact_id": contact["id"]}, headers=tenant.headers
    )
    assert found.json()["items"] == []
