"""Scheduled messages on a real Temporal dev server: sent at `send_at`, or cancelled."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from tests.conftest import TenantLogin, make_settings, new_tenant
from tests.integration.test_webhooks_delivery import PRECISE_TIMERS, _temporal_cli
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest
from ventros.conversations.scheduling import workflow_id_of
from ventros.platform.temporal import run_temporal_worker
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration


@dataclass
class App:
    container: Container
    http: httpx.AsyncClient
    temporal: Client


@pytest.fixture(scope="module")
async def app(owner_url: str) -> AsyncIterator[App]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=_temporal_cli(), dev_server_extra_args=PRECISE_TIMERS
    ) as env:
        settings = make_settings(
            temporal_address=env.client.service_client.config.target_host,
            temporal_task_queue=f"scheduled-{uuid.uuid4().hex[:8]}",
        )
        container = bootstrap(settings, database_url=owner_url)
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_temporal_worker(
                container, stop, client=env.client, modules=("ventros.conversations.scheduling",)
            )
        )
        transport = httpx.ASGITransport(app=create_app(container))
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://ventros.test") as h:
                yield App(container, h, env.client)
        finally:
            stop.set()
            await worker
            await container.aclose()


async def customer(app: App) -> tuple[TenantLogin, str]:
    tenant = await new_tenant(app.container, app.http)
    channel = await create_channel(app.http, tenant)
    text = fixture("message.text.json")
    text["payload"]["timestamp"] = int(time.time())
    await deliver(app.http, channel["id"], text)
    await ingest(app.container, tenant)
    contacts = await app.http.get("/api/v1/contacts", headers=tenant.headers)
    return tenant, contacts.json()["items"][0]["id"]


async def schedule(app: App, tenant: TenantLogin, body: dict[str, Any]) -> httpx.Response:
    return await app.http.post("/api/v1/messages/schedule", json=body, headers=tenant.headers)


async def test_a_scheduled_message_is_sent_at_send_at(app: App) -> None:
    tenant, contact_id = await customer(app)
    send_at = datetime.now(UTC) + timedelta(seconds=2)
    response = await schedule(
        app,
        tenant,
        {
            "contact_id": contact_id,
            "type": "text",
            "text": "Lembrete",
            "send_at": send_at.isoformat(),
        },
    )
    assert response.status_code == 202, response.text
    scheduled = response.json()
    assert scheduled["status"] == "scheduled"
    url = f"/api/v1/messages/{scheduled['id']}"
    assert (await app.http.get(url, headers=tenant.headers)).status_code == 404
    deadline = time.monotonic() + 20
    while (found := await app.http.get(url, headers=tenant.headers)).status_code == 404:
        assert time.monotonic() < deadline, "the scheduled message was never created"
        await asyncio.sleep(0.2)
    message = found.json()
    assert message["status"] == "pending"
    assert message["text"] == "Lembrete"
    assert datetime.fromisoformat(message["created_at"]) >= send_at - timedelta(milliseconds=50)
    handle = app.temporal.get_workflow_handle(workflow_id_of(tenant.tenant_id, scheduled["id"]))
    assert await handle.result() == "sent"


async def test_a_cancelled_scheduled_message_is_never_sent(app: App) -> None:
    tenant, contact_id = await customer(app)
    send_at = datetime.now(UTC) + timedelta(seconds=3)
    response = await schedule(
        app,
        tenant,
        {"contact_id": contact_id, "type": "text", "text": "Nunca", "send_at": send_at.isoformat()},
    )
    scheduled_id = response.json()["id"]
    other = await new_tenant(app.container, app.http)
    foreign = await app.http.delete(
        f"/api/v1/messages/scheduled/{scheduled_id}", headers=other.headers
    )
    assert foreign.status_code == 404
    cancelled = await app.http.delete(
        f"/api/v1/messages/scheduled/{scheduled_id}", headers=tenant.headers
    )
    assert cancelled.status_code == 204, cancelled.text
    handle = app.temporal.get_workflow_handle(workflow_id_of(tenant.tenant_id, scheduled_id))
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    again = await app.http.delete(
        f"/api/v1/messages/scheduled/{scheduled_id}", headers=tenant.headers
    )
    assert again.status_code == 409
    await asyncio.sleep(4)
    message = await app.http.get(f"/api/v1/messages/{scheduled_id}", headers=tenant.headers)
    assert message.status_code == 404
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED


async def test_scheduling_validates_like_sending(app: App) -> None:
    tenant, contact_id = await customer(app)
    response = await schedule(
        app,
        tenant,
        {"contact_id": contact_id, "type": "text", "send_at": datetime.now(UTC).isoformat()},
    )
    assert response.status_code == 422
