"""Trackings and the attribution report through HTTP."""

import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.conftest import TEST_PASSWORD, TenantLogin, login
from ventros.kernel.events import Actor
from ventros.platform.outbox import domain_events
from ventros.runtime.container import Container
from ventros.tracking.repository import ad_spend_daily, tracking_conversions, trackings

pytestmark = pytest.mark.integration

AD_ID = "120226305854810726"
CTWA = "Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwFjN80dp4"


async def _user(client: httpx.AsyncClient, admin: TenantLogin, role: str) -> dict[str, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/agents",
        json={"email": email, "name": role.title(), "password": TEST_PASSWORD, "role": role},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {await login(client, email)}"}


async def _contact(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/api/v1/contacts", json={"name": "Lead"}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _tracking(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post("/api/v1/trackings", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_agent_records_a_tracking_and_reads_it_back_by_contact(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    agent = await _user(client, tenant, "agent")
    contact_id = await _contact(client, agent)
    other_contact = await _contact(client, agent)
    created = await _tracking(
        client,
        agent,
        contact_id=contact_id,
        source="facebook_ads",
        campaign_id="c1",
        adset_id="s1",
        ad_id=AD_ID,
        click_id=CTWA,
        click_id_type="ctwa_clid",
        utm_source="facebook",
        utm_medium="paid_social",
    )
    assert created["source"] == "facebook_ads"
    assert (created["ad_id"], created["click_id"], created["click_id_type"]) == (
        AD_ID,
        CTWA,
        "ctwa_clid",
    )
    await _tracking(client, agent, contact_id=other_contact, source="direct")

    listed = await client.get("/api/v1/trackings", params={"contact_id": contact_id}, headers=agent)
    assert listed.status_code == 200
    assert listed.json() == {"items": [created], "next_cursor": None}

    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        events = (
            await tx.connection.execute(
                domain_events.select().where(domain_events.c.name == "tracking.created")
            )
        ).all()
    mine = [e for e in events if e.aggregate_id == uuid.UUID(created["id"])]
    assert len(mine) == 1
    assert mine[0].contact_id == uuid.UUID(contact_id)
    assert mine[0].data["click_id_type"] == "ctwa_clid"


async def test_without_a_source_the_tracking_is_classified(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    contact_id = await _contact(client, tenant.headers)
    instagram = await _tracking(
        client,
        tenant.headers,
        contact_id=contact_id,
        click_id=CTWA,
        click_id_type="ctwa_clid",
        source_url="https://www.instagram.com/p/xyz",
    )
    google = await _tracking(
        client,
        tenant.headers,
        contact_id=contact_id,
        click_id="Cj0KCQ",
        click_id_type="gclid",
    )
    organic = await _tracking(
        client, tenant.headers, contact_id=contact_id, utm_source="newsletter", utm_medium="email"
    )
    # A landing page with no campaign nor referrer: someone typed the address.
    direct = await _tracking(
        client, tenant.headers, contact_id=contact_id, landing_url="https://loja.example.com/"
    )
    assert [t["source"] for t in (instagram, google, organic, direct)] == [
        "instagram_ads",
        "google_ads",
        "organic",
        "direct",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"source": "myspace_ads"},
        {"click_id": "abc"},
        {"click_id_type": "gclid"},
        {"click_id": "abc", "click_id_type": "dclid"},
        {"utm_source": "x" * 501},
    ],
)
async def test_invalid_trackings_are_422(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, Any]
) -> None:
    contact_id = await _contact(client, tenant.headers)
    response = await client.post(
        "/api/v1/trackings", json={"contact_id": contact_id, **body}, headers=tenant.headers
    )
    assert response.status_code == 422, response.text


async def test_a_viewer_reads_trackings_and_reports_but_cannot_create_trackings(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    viewer = await _user(client, tenant, "viewer")
    agent = await _user(client, tenant, "agent")
    contact_id = await _contact(client, tenant.headers)
    refused = await client.post(
        "/api/v1/trackings", json={"contact_id": contact_id, "source": "direct"}, headers=viewer
    )
    assert refused.status_code == 403
    assert (await client.get("/api/v1/trackings", headers=viewer)).status_code == 200
    # Reading a report is reading: viewers may; agents, who answer customers, may not.
    assert (await client.get("/api/v1/reports/attribution", headers=viewer)).status_code == 200
    report = await client.get("/api/v1/reports/attribution", headers=agent)
    assert report.status_code == 403
    supervisor = await _user(client, tenant, "supervisor")
    assert (await client.get("/api/v1/reports/attribution", headers=supervisor)).status_code == 200


async def test_another_tenants_contact_and_trackings_are_out_of_reach(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    contact_id = await _contact(client, tenant.headers)
    await _tracking(client, tenant.headers, contact_id=contact_id, source="direct")
    response = await client.post(
        "/api/v1/trackings",
        json={"contact_id": contact_id, "source": "direct"},
        headers=other_tenant.headers,
    )
    assert response.status_code == 404
    listed = await client.get(
        "/api/v1/trackings", params={"contact_id": contact_id}, headers=other_tenant.headers
    )
    assert listed.json()["items"] == []
    report = await client.get("/api/v1/reports/attribution", headers=other_tenant.headers)
    assert report.json()["items"] == []


async def _set_created_at(
    container: Container, tenant: TenantLogin, tracking_id: str, at: datetime
) -> None:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await tx.connection.execute(
            update(trackings).where(trackings.c.id == uuid.UUID(tracking_id)).values(created_at=at)
        )
        await tx.commit()


async def test_the_attribution_report_counts_leads_conversions_spend_cpl_and_roi(
    client: httpx.AsyncClient, tenant: TenantLogin, container: Container
) -> None:
    in_range = datetime(2026, 10, 5, 12, tzinfo=UTC)
    ads = []
    for _ in range(4):  # four leads from one Meta ad, campaign c1
        contact_id = await _contact(client, tenant.headers)
        tracking = await _tracking(
            client,
            tenant.headers,
            contact_id=contact_id,
            source="facebook_ads",
            campaign_id="c1",
            ad_id=AD_ID,
            click_id=CTWA + contact_id[:4],
            click_id_type="ctwa_clid",
        )
        await _set_created_at(container, tenant, tracking["id"], in_range)
        ads.append((contact_id, tracking["id"]))
    organic_contact = await _contact(client, tenant.headers)
    organic = await _tracking(
        client, tenant.headers, contact_id=organic_contact, source="organic", utm_campaign="news"
    )
    await _set_created_at(container, tenant, organic["id"], in_range)
    direct_contact = await _contact(client, tenant.headers)
    direct = await _tracking(client, tenant.headers, contact_id=direct_contact, source="direct")
    await _set_created_at(container, tenant, direct["id"], in_range)
    late = await _tracking(client, tenant.headers, contact_id=direct_contact, source="direct")
    await _set_created_at(container, tenant, late["id"], datetime(2026, 11, 20, tzinfo=UTC))

    params = {"from": "2026-10-01", "to": "2026-10-31"}
    before = await client.get("/api/v1/reports/attribution", params=params, headers=tenant.headers)
    assert before.status_code == 200, before.text
    assert before.json()["items"] == [
        {
            "key": "facebook_ads",
            "leads": 4,
            "conversions": 0,
            "spend_cents": None,
            "cpl_cents": None,
            "revenue_cents": 0,
            "roi": None,
        },
        {
            "key": "direct",
            "leads": 1,
            "conversions": 0,
            "spend_cents": None,
            "cpl_cents": None,
            "revenue_cents": 0,
            "roi": None,
        },
        {
            "key": "organic",
            "leads": 1,
            "conversions": 0,
            "spend_cents": None,
            "cpl_cents": None,
            "revenue_cents": 0,
            "roi": None,
        },
    ]

    # What enrichment and AttributeConversion will write: two days of spend, one sale.
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await tx.connection.execute(
            ad_spend_daily.insert(),
            [
                {
                    "tenant_id": tenant.tenant_id,
                    "platform": "meta",
                    "ad_id": AD_ID,
                    "day": day,
                    "campaign_id": "c1",
                    "spend_cents": cents,
                    "currency": "BRL",
                    "fetched_at": datetime.now(UTC),
                }
                for day, cents in (
                    (date(2026, 10, 4), 3000),
                    (date(2026, 10, 5), 5000),
                    (date(2026, 11, 1), 99999),  # outside the range
                )
            ],
        )
        await tx.connection.execute(
            tracking_conversions.insert().values(
                id=uuid.uuid4(),
                tenant_id=tenant.tenant_id,
                tracking_id=uuid.UUID(ads[0][1]),
                contact_id=uuid.UUID(ads[0][0]),
                event_name="Purchase",
                value_cents=20000,
                currency="BRL",
                occurred_at=datetime(2026, 10, 9, tzinfo=UTC),
                created_at=datetime.now(UTC),
            )
        )
        await tx.commit()

    by_source = await client.get(
        "/api/v1/reports/attribution", params=params, headers=tenant.headers
    )
    assert by_source.json()["items"][0] == {
        "key": "facebook_ads",
        "leads": 4,
        "conversions": 1,
        "spend_cents": 8000,
        "cpl_cents": 2000,
        "revenue_cents": 20000,
        "roi": 1.5,
    }
    by_campaign = await client.get(
        "/api/v1/reports/attribution",
        params={**params, "group_by": "campaign"},
        headers=tenant.headers,
    )
    items = {
        i["key"]: (i["leads"], i["conversions"], i["spend_cents"])
        for i in by_campaign.json()["items"]
    }
    assert items == {"c1": (4, 1, 8000), "(none)": (1, 0, None), "news": (1, 0, None)}
    bad = await client.get(
        "/api/v1/reports/attribution", params={"group_by": "ad"}, headers=tenant.headers
    )
    assert bad.status_code == 422
