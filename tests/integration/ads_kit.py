"""Shared setup of the enrichment and conversion tests: the ads stand-in, an app pointed at
it, a Temporal dev server and a worker running the tracking workflows."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import Client

from tests.conftest import TenantLogin, make_settings, new_tenant
from tests.integration.temporal_kit import local_temporal
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Consumer, process_event
from ventros.platform.outbox import domain_events
from ventros.platform.temporal import run_temporal_worker
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.http import create_app
from ventros.stand_ins.ads import VALID_TOKEN, AdsStandIn
from ventros.tracking import handlers
from ventros.tracking.enrichment import EnrichResult
from ventros.tracking.workflows import Backoff, start_conversion, start_enrichment
from ventros.webhooks.repository import load_event

CTWA_CLID = (
    "Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwFjN80dp4_0NiNhEgpGo0AHemvuSoifXaytfTzcchptiErTKCq"
    "TrJ5nW1h7IHYeYymGb5K5J5iTROpBhWAGaIAeUzHL50"
)
AD_ID = "120226305854810726"
WABA_ID = "102290129340398"
FAST = Backoff(initial_interval_seconds=0.2, maximum_interval_seconds=1.0, maximum_attempts=5)


@pytest.fixture(scope="module")
def stand_in() -> Iterator[AdsStandIn]:
    with AdsStandIn() as server:
        yield server


@pytest.fixture(scope="module")
async def temporal() -> AsyncIterator[Client]:
    async with await local_temporal() as env:
        yield env.client


@dataclass
class Ads:
    container: Container
    http: httpx.AsyncClient
    stand_in: AdsStandIn
    temporal: Client
    task_queue: str

    def consumers(self) -> dict[str, Consumer]:
        enrich = functools.partial(
            start_enrichment, client=self.temporal, task_queue=self.task_queue
        )
        send = functools.partial(start_conversion, client=self.temporal, task_queue=self.task_queue)
        return {c.name: c for c in handlers.consumers(enrich, send, FAST)}

    async def handle(self, consumer: str, event: DomainEvent) -> Any:
        return await process_event(self.container.uow, self.consumers()[consumer], event)

    async def events(self, tenant_id: uuid.UUID, name: str) -> list[DomainEvent]:
        async with self.container.uow(tenant_id, Actor.system()) as tx:
            ids = (
                await tx.connection.execute(
                    select(domain_events.c.id)
                    .where(domain_events.c.name == name)
                    .order_by(domain_events.c.occurred_at)
                )
            ).scalars()
            found = [await load_event(tx, event_id) for event_id in list(ids)]
        return [e for e in found if e is not None]

    async def result(self, workflow_id: str, result_type: type) -> Any:
        handle = self.temporal.get_workflow_handle(workflow_id, result_type=result_type)
        return await asyncio.wait_for(handle.result(), 30)


@pytest.fixture(scope="module")
async def ads(owner_url: str, stand_in: AdsStandIn, temporal: Client) -> AsyncIterator[Ads]:
    settings = make_settings(
        ads_graph_base_url=stand_in.url,
        ads_google_base_url=stand_in.url,
        ads_tiktok_base_url=stand_in.url,
    )
    container = bootstrap(settings, database_url=owner_url)
    queue = f"ads-test-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_temporal_worker(
            container,
            stop,
            client=temporal,
            modules=("ventros.tracking.workflows",),
            task_queue=queue,
        )
    )
    transport = httpx.ASGITransport(app=create_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ventros.test") as http:
            yield Ads(container, http, stand_in, temporal, queue)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 15)
        await container.aclose()


@pytest.fixture
async def admin(ads: Ads) -> TenantLogin:
    return await new_tenant(ads.container, ads.http)


async def integrate(ads: Ads, admin: TenantLogin, platform: str, **body: Any) -> dict[str, Any]:
    body = {"access_token": VALID_TOKEN, **body}
    response = await ads.http.put(
        f"/api/v1/ad-integrations/{platform}", json=body, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def lead(
    ads: Ads,
    admin: TenantLogin,
    *,
    click_id: str = CTWA_CLID,
    click_id_type: str = "ctwa_clid",
    ad_id: str | None = AD_ID,
    phone: str = "+16505551234",
    email: str = "John_Smith@gmail.com",
) -> tuple[str, str]:
    """A contact (the fixture's WhatsApp lead) and its tracking: (contact id, tracking id)."""
    response = await ads.http.post(
        "/api/v1/contacts",
        json={"name": "Sheena Nelson", "phone": phone, "email": email},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    contact_id = response.json()["id"]
    body: dict[str, Any] = {
        "contact_id": contact_id,
        "click_id": click_id,
        "click_id_type": click_id_type,
    }
    if ad_id:
        body["ad_id"] = ad_id
    response = await ads.http.post("/api/v1/trackings", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return contact_id, response.json()["id"]


async def enrich(ads: Ads, admin: TenantLogin, tracking_id: str) -> Any:
    [created] = [
        e
        for e in await ads.events(admin.tenant_id, "tracking.created")
        if str(e.aggregate_id) == tracking_id
    ]
    await ads.handle(handlers.ENRICH, created)
    return await ads.result(f"enrich-{tracking_id}", EnrichResult)
