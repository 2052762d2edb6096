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

from tests.conftest import TenantLogin, make_settings, new_tenant
from tests.integration.temporal_kit import local_temporal
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest, rows
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
    async with await local_temporal() as env:
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


async def customer(
    app: App, *, wrote_seconds_ago: float = 0, **channel_fields: Any
) -> tuple[TenantLogin, str]:
    tenant = await new_tenant(app.container, app.http)
    channel = await create_channel(app.http, tenant, **channel_fields)
    text = fixture("message.text.json")
    text["payload"]["timestamp"] = int(time.time() - wrote_seconds_ago)
    await deliver(app.http, channel["id"], text)
    await ingest(app.container, tenant)
    contacts = await app.http.get("/api/v1/contacts", headers=tenant.headers)
    return tenant, contacts.json()["items"][0]["id"]


async def schedule(app: App, tenant: TenantLogin, body: dict[str, Any]) -> httpx.Response:
    return await app.http.post("/api/v1/messages/schedule", json=body, headers=tenant.headers)


async def settled(app: App, tenant: TenantLogin, message_id: str) -> dict[str, Any]:
    """The message once it is no longer `scheduled`."""
    url = f"/api/v1/messages/{message_id}"
    deadline = time.monotonic() + 20
    while (found := await app.http.get(url, headers=tenant.headers)).json()[
        "status"
    ] == "scheduled":
        assert time.monotonic() < deadline, "the scheduled message never left `scheduled`"
        await asyncio.sleep(0.2)
    message: dict[str, Any] = found.json()
    return message


def in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def schedule_text(
    app: App, tenant: TenantLogin, contact_id: str, text: str, *, in_s: float
) -> str:
    """Schedules a text `in_s` seconds from now; its message id."""
    body = {"contact_id": contact_id, "type": "text", "text": text, "send_at": in_seconds(in_s)}
    response = await schedule(app, tenant, body)
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


async def failed_events(app: App, tenant: TenantLogin, message_id: str) -> list[Any]:
    return await rows(
        app.container,
        tenant,
        "SELECT data AS payload FROM domain_events"
        " WHERE aggregate_id = :id AND name = 'message.failed'",
        id=uuid.UUID(message_id),
    )


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
    waiting = await app.http.get(url, headers=tenant.headers)
    assert waiting.status_code == 200, waiting.text
    assert waiting.json()["status"] == "scheduled"
    assert waiting.json()["session_id"] is None
    assert datetime.fromisoformat(waiting.json()["send_at"]) == send_at
    message = await settled(app, tenant, scheduled["id"])
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


async def test_send_at_in_the_past_is_422(app: App) -> None:
    tenant, contact_id = await customer(app)
    response = await schedule(
        app,
        tenant,
        {"contact_id": contact_id, "type": "text", "text": "Ontem", "send_at": in_seconds(-60)},
    )
    assert response.status_code == 422, response.text
    assert "future" in response.json()["detail"]
    listed = await app.http.get(
        "/api/v1/messages", params={"status": "scheduled"}, headers=tenant.headers
    )
    assert listed.json()["items"] == []


async def test_scheduled_messages_are_listed_by_status_a_page_at_a_time(app: App) -> None:
    tenant, contact_id = await customer(app)
    ids = []
    for n in range(3):
        ids.append(await schedule_text(app, tenant, contact_id, f"#{n}", in_s=600))
    seen: list[str] = []
    cursor = None
    while True:
        params = {"status": "scheduled", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await app.http.get("/api/v1/messages", params=params, headers=tenant.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert set(body) == {"items", "next_cursor"}
        assert all(item["status"] == "scheduled" for item in body["items"])
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))  # newest first
    # The customer's own message is not scheduled.
    everything = await app.http.get("/api/v1/messages", headers=tenant.headers)
    assert len(everything.json()["items"]) == 4
    for message_id in ids:
        cancelled = await app.http.delete(
            f"/api/v1/messages/scheduled/{message_id}", headers=tenant.headers
        )
        assert cancelled.status_code == 204
    left = await app.http.get(
        "/api/v1/messages", params={"status": "scheduled"}, headers=tenant.headers
    )
    assert left.json()["items"] == []


async def test_a_scheduled_message_whose_channel_was_deleted_ends_failed(app: App) -> None:
    tenant, contact_id = await customer(app)
    message_id = await schedule_text(app, tenant, contact_id, "Oi", in_s=2)
    waiting = (await app.http.get(f"/api/v1/messages/{message_id}", headers=tenant.headers)).json()
    deleted = await app.http.delete(
        f"/api/v1/channels/{waiting['channel_id']}", headers=tenant.headers
    )
    assert deleted.status_code == 204, deleted.text
    message = await settled(app, tenant, message_id)
    assert message["status"] == "failed"
    assert "channel" in message["error"]
    events = await failed_events(app, tenant, message_id)
    assert len(events) == 1
    assert events[0].payload["error"] == message["error"]


async def test_a_scheduled_message_outside_the_24h_window_at_its_time_ends_failed(
    app: App,
) -> None:
    # The customer wrote 24 h minus 3 s ago: the window is open when it is scheduled and
    # closed when it is due.
    tenant, contact_id = await customer(
        app, wrote_seconds_ago=24 * 3600 - 3, enforce_24h_window=True
    )
    message_id = await schedule_text(app, tenant, contact_id, "Tarde", in_s=5)
    message = await settled(app, tenant, message_id)
    assert message["status"] == "failed"
    assert "24 h window" in message["error"]
    assert len(await failed_events(app, tenant, message["id"])) == 1


async def test_a_scheduled_message_to_a_contact_anonymised_meanwhile_ends_failed(
    app: App,
) -> None:
    tenant, contact_id = await customer(app)
    message_id = await schedule_text(app, tenant, contact_id, "Oi", in_s=2)
    erased = await app.http.post(f"/api/v1/contacts/{contact_id}/anonymize", headers=tenant.headers)
    assert erased.status_code == 200, erased.text
    message = await settled(app, tenant, message_id)
    assert message["status"] == "failed"
    assert message["error"]
    assert len(await failed_events(app, tenant, message["id"])) == 1
