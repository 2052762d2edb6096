"""One trace from the HTTP request through the outbox, the relay and the consumers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import login, new_tenant
from tests.integration.processes import eventually
from tests.integration.test_bus_support import Backbone, fresh_backbone
from ventros.kernel.events import DomainEvent
from ventros.kernel.tracing import TraceContext, current_trace
from ventros.platform.consumers import Consumer, ConsumerRegistry, run_worker
from ventros.platform.relay import run_relay
from ventros.platform.uow import UnitOfWork
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration

CALLER = TraceContext.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")


@pytest.fixture
async def backbone(server_url: str, tmp_path: Path) -> AsyncIterator[Backbone]:
    async with fresh_backbone(server_url, tmp_path, bus_poll_interval_seconds=0.2) as built:
        yield built


async def test_the_callers_trace_reaches_the_consumers_and_the_events_they_raise(
    backbone: Backbone,
) -> None:
    assert CALLER is not None
    seen: list[TraceContext | None] = []

    async def when_contact_created_react(event: DomainEvent, tx: UnitOfWork) -> None:
        seen.append(current_trace())
        tx.add_event(DomainEvent("test.reacted", event.tenant_id, "test", event.aggregate_id, {}))

    registry = ConsumerRegistry(
        [Consumer("tracing.react", ("contact.created",), when_contact_created_react)]
    )
    stop = asyncio.Event()
    services = [
        asyncio.create_task(run_worker(backbone.container, stop, registry=registry)),
        asyncio.create_task(run_relay(backbone.container, stop)),
    ]
    transport = httpx.ASGITransport(app=create_app(backbone.container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ventros.test") as http:
            tenant = await new_tenant(backbone.container, http)
            headers = {
                "Authorization": f"Bearer {await login(http, tenant.email)}",
                "traceparent": CALLER.header,
            }
            created = await http.post("/api/v1/contacts", json={"name": "Traced"}, headers=headers)
            assert created.status_code == 201, created.text

            async def reacted() -> bool:
                return bool(
                    await backbone.fetchval(
                        "SELECT count(*) FROM outbox_events WHERE name = 'test.reacted'"
                    )
                )

            await eventually(reacted, within=20)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*services), 20)

    recorded = await backbone.fetchval(
        "SELECT event->>'traceparent' FROM outbox_events WHERE name = 'contact.created'"
        " AND aggregate_id = $1",
        uuid.UUID(created.json()["id"]),
    )
    request = TraceContext.parse(recorded)
    assert request is not None
    assert request.trace_id == CALLER.trace_id
    assert request.span_id != CALLER.span_id  # the request is an operation of its own
    [handler] = seen
    assert handler is not None
    assert handler.trace_id == CALLER.trace_id
    assert handler.span_id not in {CALLER.span_id, request.span_id}
    follow_up = TraceContext.parse(
        await backbone.fetchval(
            "SELECT event->>'traceparent' FROM outbox_events WHERE name = 'test.reacted'"
        )
    )
    assert follow_up == handler
