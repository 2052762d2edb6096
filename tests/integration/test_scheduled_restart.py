"""A scheduled message survives a restart of both the Temporal worker and the Temporal
server: the embedded dev server keeps its state in SQLite, as `ventros run` runs it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from tests.conftest import make_settings, new_tenant
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest
from ventros.conversations.scheduling import workflow_id_of
from ventros.platform.embedded.temporal import EmbeddedTemporal
from ventros.platform.temporal import run_temporal_worker
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration

MODULES = ("ventros.conversations.scheduling",)


class Worker:
    """The Temporal worker of this test, stopped and started at will."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, client: Client) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            run_temporal_worker(self.container, self._stop, client=client, modules=MODULES)
        )

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[EmbeddedTemporal]:
    embedded = EmbeddedTemporal(tmp_path / "temporal")
    try:
        yield embedded
    finally:
        embedded.stop()


async def test_a_scheduled_message_survives_a_worker_and_temporal_server_restart(
    owner_url: str, server: EmbeddedTemporal
) -> None:
    address = await asyncio.to_thread(server.start)
    settings = make_settings(
        temporal_address=address, temporal_task_queue=f"restart-{uuid.uuid4().hex[:8]}"
    )
    container = bootstrap(settings, database_url=owner_url)
    worker = Worker(container)
    try:
        worker.start(await Client.connect(address))
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://ventros.test") as http:
            tenant = await new_tenant(container, http)
            channel = await create_channel(http, tenant)
            text = fixture("message.text.json")
            text["payload"]["timestamp"] = int(time.time())
            await deliver(http, channel["id"], text)
            await ingest(container, tenant)
            contact_id = (await http.get("/api/v1/contacts", headers=tenant.headers)).json()[
                "items"
            ][0]["id"]
            send_at = datetime.now(UTC) + timedelta(seconds=6)
            scheduled = await http.post(
                "/api/v1/messages/schedule",
                json={
                    "contact_id": contact_id,
                    "type": "text",
                    "text": "Lembrete",
                    "send_at": (send_at.isoformat()),
                },
                headers=tenant.headers,
            )
            assert scheduled.status_code == 202, scheduled.text
            message_id = scheduled.json()["id"]

            # Everything Temporal goes down while the message waits, then comes back (on a
            # new port, from the same SQLite file).
            await worker.stop()
            await asyncio.to_thread(server.stop)
            address = await asyncio.to_thread(server.start)
            client = await Client.connect(address)
            worker.start(client)

            url = f"/api/v1/messages/{message_id}"
            deadline = time.monotonic() + 60
            while (found := await http.get(url, headers=tenant.headers)).json()[
                "status"
            ] == "scheduled":
                assert time.monotonic() < deadline, "the scheduled message was never sent"
                await asyncio.sleep(0.2)
            message = found.json()
            assert message["text"] == "Lembrete"
            assert datetime.fromisoformat(message["created_at"]) >= send_at - timedelta(
                milliseconds=50
            )
            handle = client.get_workflow_handle(workflow_id_of(tenant.tenant_id, message_id))
            assert await handle.result() == "sent"
    finally:
        await worker.stop()
        await container.aclose()
