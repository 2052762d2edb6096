"""The attribution model (issue 19, item 5): a lead counts once, under its first touch by
default or its last touch on request; a manual tracking must carry a source signal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_tracking_api import _contact, _set_created_at, _tracking
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

OCTOBER = {"from": "2026-10-01", "to": "2026-10-31"}


async def test_a_manual_tracking_without_any_source_signal_is_422(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact_id = await _contact(client, tenant.headers)
    for body in ({}, {"utm_source": "  ", "referrer": ""}):
        response = await client.post(
            "/api/v1/trackings", json={"contact_id": contact_id, **body}, headers=tenant.headers
        )
        assert response.status_code == 422, response.text
        assert "source" in response.json()["detail"]
    listed = await client.get(
        "/api/v1/trackings", params={"contact_id": contact_id}, headers=tenant.headers
    )
    assert listed.json()["items"] == []


async def _leads(client: httpx.AsyncClient, tenant: TenantLogin, **params: str) -> dict[str, int]:
    response = await client.get(
        "/api/v1/reports/attribution", params={**OCTOBER, **params}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return {item["key"]: item["leads"] for item in items if item["leads"]}


async def test_a_lead_touched_by_two_sources_counts_once_under_the_models_touch(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    contact_id = await _contact(client, tenant.headers)
    first = await _tracking(
        client, tenant.headers, contact_id=contact_id, utm_source="facebook", utm_medium="cpc"
    )
    await _set_created_at(container, tenant, first["id"], datetime(2026, 10, 3, tzinfo=UTC))
    last = await _tracking(
        client, tenant.headers, contact_id=contact_id, click_id="Cj0KCQ", click_id_type="gclid"
    )
    await _set_created_at(container, tenant, last["id"], datetime(2026, 10, 9, tzinfo=UTC))

    assert await _leads(client, tenant) == {"facebook_ads": 1}
    assert await _leads(client, tenant, model="first_touch") == {"facebook_ads": 1}
    assert await _leads(client, tenant, model="last_touch") == {"google_ads": 1}
    refused = await client.get(
        "/api/v1/reports/attribution",
        params={**OCTOBER, "model": "linear"},
        headers=tenant.headers,
    )
    assert refused.status_code == 422


async def test_a_lead_first_touched_before_the_range_is_not_a_new_lead_in_it(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    contact_id = await _contact(client, tenant.headers)
    september = await _tracking(client, tenant.headers, contact_id=contact_id, source="organic")
    await _set_created_at(container, tenant, september["id"], datetime(2026, 9, 20, tzinfo=UTC))
    october = await _tracking(client, tenant.headers, contact_id=contact_id, source="google_ads")
    await _set_created_at(container, tenant, october["id"], datetime(2026, 10, 9, tzinfo=UTC))
    assert await _leads(client, tenant) == {}
    assert await _leads(client, tenant, model="last_touch") == {}
    assert await _leads(client, tenant, **{"from": "2026-09-01"}) == {"organic": 1}
