"""ChannelWatchdogWorkflow on a real Temporal dev server against the WAHA simulator: a session
that says WORKING but goes silent while a message waits for its ack is reported unhealthy,
restarted once, reported down (on /health and /metrics), and clears when the customer
speaks again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from temporalio.client import Client

from tests.conftest import TenantLogin
from tests.integration.temporal_kit import local_temporal
from tests.integration.test_legacy_chat_ids import consumer
from tests.integration.test_sending_outbound import send, sending_event
from tests.integration.test_waha_simulator_sending import Running, customer_writes, waha
from tests.integration.waha_kit import ingest, scalar
from ventros.channels.health import Observation, diagnose
from ventros.channels.waha_client import WahaClient
from ventros.channels.workflows import WatchdogInput, start_watchdog
from ventros.platform.consumers import Outcome, process_event
from ventros.platform.temporal import run_temporal_worker
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration
__all__ = ["waha"]  # the simulator fixture, shared


@pytest.fixture(scope="module")
async def temporal() -> AsyncIterator[Client]:
    async with await local_temporal() as env:
        yield env.client


@pytest.fixture
async def worker(container: Container, temporal: Client) -> AsyncIterator[str]:
    queue = f"watchdog-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_temporal_worker(
            container,
            stop,
            client=temporal,
            modules=("ventros.channels.workflows",),
            task_queue=queue,
        )
    )
    try:
        yield queue
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def until(check: Callable[[], Awaitable[Any]], expected: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    seen = None
    while time.monotonic() < deadline:
        seen = await check()
        if seen == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"still {seen!r}, expected {expected!r}")


async def health_names(container: Container, tenant: TenantLogin) -> list[str]:
    async with container.database.system.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT name FROM outbox_events WHERE tenant_id = :t AND name IN "
                "('channel.unhealthy', 'channel.down', 'channel.recovered') ORDER BY position"
            ),
            {"t": tenant.tenant_id},
        )
        return [row.name for row in found]


def test_the_rule_needs_silence_and_unacknowledged_sends() -> None:
    assert diagnose(Observation("WORKING", 5.0, 3), silence_seconds=60) is None
    assert diagnose(Observation("WORKING", 900.0, 0), silence_seconds=60) is None  # a quiet night
    silent = diagnose(Observation("WORKING", 900.0, 2), silence_seconds=60)
    assert silent is not None
    assert "silent" in silent
    assert diagnose(Observation("FAILED", 1.0, 0), silence_seconds=60) is not None
    assert diagnose(Observation("SCAN_QR_CODE", None, 0), silence_seconds=60) is None


async def test_a_silent_working_session_is_restarted_once_reported_and_clears(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    waha_client: WahaClient,
    temporal: Client,
    worker: str,
) -> None:
    channel_id, contact_id = await customer_writes(client, container, tenant, waha)
    waha.sim.acks = False  # WAHA says WORKING but nothing comes back any more
    accepted = await send(client, tenant, {"contact_id": contact_id, "type": "text", "text": "Oi"})
    event = await sending_event(container, tenant, accepted["id"])
    assert await process_event(container.uow, consumer(container, waha_client), event) is (
        Outcome.PROCESSED
    )

    params = WatchdogInput(
        str(tenant.tenant_id),
        channel_id,
        silence_seconds=1.0,
        poll_seconds=0.3,
        ack_grace_seconds=0.0,
    )
    assert await start_watchdog(params, client=temporal, task_queue=worker)

    def health() -> Awaitable[Any]:
        return scalar(
            container,
            tenant,
            "SELECT health FROM channel_health WHERE channel_id = :c",
            c=uuid.UUID(channel_id),
        )

    await until(health, "down")
    assert waha.sim.restarts == 1
    assert await health_names(container, tenant) == ["channel.unhealthy", "channel.down"]
    reason = await scalar(
        container,
        tenant,
        "SELECT reason FROM channel_health WHERE channel_id = :c",
        c=uuid.UUID(channel_id),
    )
    assert "connected but silent" in reason

    report = (await client.get("/health")).json()
    mine = [c for c in report["channels"] if c["channel_id"] == channel_id]
    assert len(mine) == 1
    assert mine[0]["health"] == "down"
    assert mine[0]["last_event_age_seconds"] >= 1.0
    metrics = (await client.get("/metrics")).text
    assert f'ventros_channel_up{{channel_id="{channel_id}"}} 0.0' in metrics
    assert f'ventros_channel_last_event_age_seconds{{channel_id="{channel_id}"}}' in metrics

    _, status = await waha.sim.customer_message("5511976543210", "Oi, voltei", push_name="M")
    assert status == 200
    await ingest(container, tenant)
    await until(health, "healthy")
    assert await health_names(container, tenant) == [
        "channel.unhealthy",
        "channel.down",
        "channel.recovered",
    ]
    assert waha.sim.restarts == 1  # restarted once, not on every look
    metrics = (await client.get("/metrics")).text
    assert f'ventros_channel_up{{channel_id="{channel_id}"}} 1.0' in metrics
