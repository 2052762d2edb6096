"""/metrics after a scripted conversation: every series API.md names has samples, and the
counts moved by exactly what the script did (use cases, HTTP requests, a consumer fed by the
relay, a session workflow and its activities on a real Temporal dev server)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from tests.conftest import TenantLogin, new_tenant
from tests.integration.processes import eventually
from tests.integration.temporal_kit import local_temporal
from tests.integration.test_bus_support import Backbone, fresh_backbone
from tests.integration.test_sessions_assignment import open_session
from ventros.conversations.repository import SessionRepository
from ventros.conversations.workflows import (
    LifecycleInput,
    SessionLifecycleActivities,
    SessionLifecycleWorkflow,
    start_lifecycle,
    workflow_id_of,
)
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Consumer, ConsumerRegistry, run_worker
from ventros.platform.relay import run_relay
from ventros.platform.temporal import WorkerParts, run_temporal_worker
from ventros.platform.uow import UnitOfWork
from ventros.runtime.container import Container
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration

# The series API.md lists for GET /metrics, in its words.
API_SERIES = (
    "usecase_duration_seconds",
    "usecase_executions_total",
    "usecase_errors_total",
    "message_processing_duration_seconds",
    "message_processing_total",
    "message_queue_depth",
    "db_connection_pool_size",
    "db_query_duration_seconds",
    "temporal_workflow_executions_total",
    "temporal_activity_executions_total",
    "temporal_workflow_latency_seconds",
    "http_requests_total",
    "http_request_duration_seconds",
)
LIFECYCLE = "SessionLifecycleWorkflow"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture(scope="module")
async def temporal() -> AsyncIterator[Client]:
    async with await local_temporal() as env:
        yield env.client


@pytest.fixture
async def backbone(server_url: str, tmp_path: Path) -> AsyncIterator[Backbone]:
    async with fresh_backbone(
        server_url, tmp_path, bus_poll_interval_seconds=0.2, metrics_interval_seconds=0.2
    ) as built:
        yield built


async def when_contact_created_count(event: DomainEvent, tx: UnitOfWork) -> None:
    """A consumer of the script's own: the backbone's metrics count its deliveries."""


COUNTING = Consumer("metrics.count", ("contact.created",), when_contact_created_count)


async def closed(container: Container, tenant: TenantLogin, session_id: uuid.UUID) -> bool:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        session = await SessionRepository(tx).get(session_id)
    return session is not None and session.status.value == "closed"


async def converse(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin, temporal: Client
) -> str:
    """The script: two contacts created, one read, one duplicate refused (409), one unknown
    contact read (404); a session that times out on Temporal after 1 second. Returns the
    task queue its Temporal worker served."""
    phone = f"+55119{uuid.uuid4().int % 10**8:08d}"
    headers = tenant.headers
    first = await client.post(
        "/api/v1/contacts", json={"name": "Ana", "phone": phone}, headers=headers
    )
    assert first.status_code == 201, first.text
    second = await client.post("/api/v1/contacts", json={"name": "Bia"}, headers=headers)
    assert second.status_code == 201, second.text
    duplicate = await client.post(
        "/api/v1/contacts", json={"name": "Ana again", "phone": phone}, headers=headers
    )
    assert duplicate.status_code == 409, duplicate.text
    read = await client.get(f"/api/v1/contacts/{first.json()['id']}", headers=headers)
    assert read.status_code == 200
    missing = await client.get(f"/api/v1/contacts/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404

    timeout = await client.patch(
        "/api/v1/settings", json={"session_timeout_seconds": 1}, headers=headers
    )
    assert timeout.status_code == 200, timeout.text
    session = await open_session(container, tenant)
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    # The per-session lifecycle workflow (still registered for runs started before the
    # sweep replaced it): a workflow that runs to its end, what the workflow metrics count.
    activities = SessionLifecycleActivities.build(container)
    lifecycle = WorkerParts(
        workflows=[SessionLifecycleWorkflow], activities=[activities.read, activities.close]
    )
    worker = asyncio.create_task(
        run_temporal_worker(container, stop, client=temporal, parts=[lifecycle], task_queue=queue)
    )
    try:
        await start_lifecycle(
            LifecycleInput(str(tenant.tenant_id), str(session.id)),
            client=temporal,
            task_queue=queue,
        )
        handle = temporal.get_workflow_handle(workflow_id_of(session.id))
        await asyncio.wait_for(handle.result(), 30)
        assert await closed(container, tenant, session.id)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
    return queue


async def test_metrics_after_a_scripted_conversation_count_what_it_did(
    backbone: Backbone, temporal: Client
) -> None:
    container = backbone.container
    stop = asyncio.Event()
    services = [
        asyncio.create_task(run_worker(container, stop, registry=ConsumerRegistry([COUNTING]))),
        asyncio.create_task(run_relay(container, stop)),
    ]
    transport = httpx.ASGITransport(app=create_app(container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ventros.test") as client:
            tenant = await new_tenant(container, client)
            before = await scrape(client)
            began = time.monotonic()
            queue = await converse(container, client, tenant, temporal)
            took = time.monotonic() - began

            async def consumed_and_measured() -> bool:
                now = await scrape(client)
                counted = value(now, "message_processing_total", consumer="metrics.count")
                before_count = value(before, "message_processing_total", consumer="metrics.count")
                depth = ("message_queue_depth", frozenset({("queue", "consumers.metrics.count")}))
                # Gauges are read every 0.2 s: wait for a reading after the handling.
                waiting = now.get(("conversation_sessions_waiting", frozenset()))
                return counted - before_count >= 2 and now.get(depth) == 0 and waiting == 0

            await eventually(consumed_and_measured, within=20)
            after = await scrape(client)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*services), 20)

    sampled = {name for name, _ in after}
    for name in API_SERIES:
        assert name in sampled or f"{name}_count" in sampled, f"{name}: no sample in /metrics"
    assert not any("tenant" in dict(labels) or "tenant_id" in dict(labels) for _, labels in after)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Use cases, named from the service functions, with their outcome.
    create = {"use_case": "contacts.create_contact", "context": "contacts"}
    assert delta("usecase_executions_total", **create) == 3
    assert delta("usecase_executions_total", **create, outcome="committed") == 2
    assert delta("usecase_executions_total", **create, outcome="error") == 1
    assert delta("usecase_errors_total", **create) == 1
    assert delta("usecase_errors_total", use_case="contacts.get_contact") == 1
    assert delta("usecase_duration_seconds_count", use_case="contacts.get_contact") == 2
    assert delta("usecase_duration_seconds_sum", use_case="contacts.get_contact") > 0

    # HTTP, by route template.
    assert delta("http_requests_total", route="/api/v1/contacts", method="POST") == 3
    assert delta("http_requests_total", route="/api/v1/contacts", status="409") == 1
    assert delta("http_request_duration_seconds_count", route="/api/v1/contacts/{contact_id}") == 2

    # Temporal: one session workflow ran to its end, after its 1-second timeout.
    ended = {"workflow_type": LIFECYCLE, "task_queue": queue, "outcome": "completed"}
    assert delta("temporal_workflow_executions_total", **ended) == 1
    assert delta("temporal_workflow_latency_seconds_count", workflow_type=LIFECYCLE) == 1
    latency = delta("temporal_workflow_latency_seconds_sum", workflow_type=LIFECYCLE)
    assert 0 < latency < took, latency  # workflow time, within the script's wall time
    close = {"activity_type": "session_lifecycle_close", "task_queue": queue}
    assert delta("temporal_activity_executions_total", **close, outcome="completed") == 1
    assert delta("temporal_activity_executions_total", activity_type="session_lifecycle_read") >= 1

    # The backbone: two contact.created relayed and handled once each; nothing waits.
    handled = {"consumer": "metrics.count"}
    assert delta("message_processing_total", **handled, outcome="processed") == 2
    assert delta("message_processing_duration_seconds_count", **handled) == 2
    assert delta("message_consumer_lag_seconds_count", queue="consumers.metrics.count") == 2
    assert value(after, "message_queue_depth", queue="consumers.metrics.count") == 0
    assert value(after, "message_dead_letters", queue="consumers.metrics.count") == 0
    assert delta("outbox_published_total") >= 2
    # The script's one session closed by timeout: nobody open, nobody waiting.
    assert value(after, "conversation_sessions_open") == 0
    assert value(after, "conversation_sessions_waiting") == 0
    assert value(after, "db_connection_pool_size", role="ventros_app") > 0
    assert delta("db_query_duration_seconds_count") > 0
