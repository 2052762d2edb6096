"""Server-Sent Event streams, served by real uvicorn servers (streams need a real socket)."""

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import TenantLogin
from tests.integration.processes import api_process
from ventros.runtime.container import Container
from ventros.runtime.http import create_app

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(container: Container) -> AsyncIterator[str]:
    """One API process: its own app, and so its own LISTEN connection."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def read_events(
    response: httpx.Response, count: int, seconds: float = 10
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}

    async def collect() -> None:
        async for line in response.aiter_lines():
            if line == "":
                if "data" in current:
                    events.append(dict(current))
                    if len(events) == count:
                        return
                current.clear()
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                current[field] = value.strip()

    await asyncio.wait_for(collect(), seconds)
    return events


async def _create(base: str, tenant: TenantLogin, name: str) -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post("/api/v1/contacts", json={"name": name}, headers=tenant.headers)
        assert response.status_code == 201
        return str(response.json()["id"])


async def test_a_stream_delivers_events_committed_through_another_api_process_within_1s(
    container: Container, owner_url: str, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    async with api_process(owner_url) as writing, serving(container) as streaming:
        async with (
            httpx.AsyncClient(base_url=streaming, timeout=15) as http,
            http.stream("GET", "/api/v1/events/stream", headers=tenant.headers) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            await _create(writing, other_tenant, "Not yours")
            contact_id = await _create(writing, tenant, "Streamed")
            committed_at = time.monotonic()
            [event] = await read_events(response, 1)
            latency = time.monotonic() - committed_at
    assert event["event"] == "contact.created"
    data = json.loads(event["data"])
    assert data["aggregate_id"] == contact_id
    assert data["tenant_id"] == str(tenant.tenant_id)
    assert event["id"] == data["id"]
    assert latency < 1.0, f"the event took {latency:.3f} s to cross processes"


async def test_last_event_id_resumes_after_that_event(
    container: Container, tenant: TenantLogin
) -> None:
    async with serving(container) as base:
        ids = [await _create(base, tenant, f"Resume {i}") for i in range(3)]
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            events = (
                await http.get(
                    "/api/v1/events",
                    params={"name": "contact.created", "limit": 200},
                    headers=tenant.headers,
                )
            ).json()["items"]
            first_event = next(e for e in events if e["aggregate_id"] == ids[0])
            headers = {**tenant.headers, "Last-Event-ID": first_event["id"]}
            async with http.stream("GET", "/api/v1/events/stream", headers=headers) as response:
                resumed = await read_events(response, 2)
    assert [json.loads(e["data"])["aggregate_id"] for e in resumed] == ids[1:]


async def test_a_contact_stream_carries_only_that_contacts_events(
    container: Container, tenant: TenantLogin
) -> None:
    async with serving(container) as base:
        watched = await _create(base, tenant, "Watched")
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            async with http.stream(
                "GET", f"/api/v1/contacts/{watched}/events/stream", headers=tenant.headers
            ) as response:
                await _create(base, tenant, "Unrelated")
                await http.patch(
                    f"/api/v1/contacts/{watched}",
                    json={"name": "Watched 2"},
                    headers=tenant.headers,
                )
                [event] = await read_events(response, 1)
    assert event["event"] == "contact.updated"
    assert json.loads(event["data"])["aggregate_id"] == watched


async def test_streams_need_a_token_and_hide_other_tenants_contacts(
    container: Container, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    async with serving(container) as base:
        contact = await _create(base, tenant, "Hidden")
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            assert (await http.get("/api/v1/events/stream")).status_code == 401
            foreign = await http.get(
                f"/api/v1/contacts/{contact}/events/stream", headers=other_tenant.headers
            )
            assert foreign.status_code == 404
            bad = await http.get(
                "/api/v1/events/stream", headers={**tenant.headers, "Last-Event-ID": "nope"}
            )
            assert bad.status_code == 422
            assert (
                await http.get(
                    f"/api/v1/contacts/{uuid.uuid4()}/events/stream", headers=tenant.headers
                )
            ).status_code == 404


async def test_a_stream_misses_no_event_whose_transaction_commits_after_a_later_one(
    container: Container, tenant: TenantLogin
) -> None:
    """Event ids are taken when an event is raised; commits come in their own order. Under
    load an event with a lower id often commits after one with a higher id: a stream that
    moved past the higher id used to lose the lower one for good."""
    from ventros.audit.service import follow_pages
    from ventros.identity.domain import Principal, Role
    from ventros.kernel.events import Actor, DomainEvent
    from ventros.platform.event_feed import EventFeed
    from ventros.platform.outbox import write_events

    def event() -> DomainEvent:
        return DomainEvent("contact.updated", tenant.tenant_id, "contact", uuid.uuid4(), {})

    principal = Principal(tenant.admin_id, tenant.tenant_id, Role.ADMIN, tenant.email)
    feed = EventFeed(container.database.app_dsn())
    feed.start()
    stream = follow_pages(container.uow, principal, feed, after=None, poll_seconds=0.05)
    received: list[uuid.UUID] = []
    both = asyncio.Event()

    async def read() -> None:
        async for page in stream:
            received.extend(e.id for e in page)
            if len(received) == 2:
                both.set()

    reader = asyncio.create_task(read())
    try:
        await asyncio.sleep(0.3)  # the stream has started and is waiting
        early, late = event(), event()
        assert early.id < late.id
        async with container.uow(tenant.tenant_id, Actor.system()) as slow:
            await write_events(slow.connection, [early])  # raised first, commits last
            async with container.uow(tenant.tenant_id, Actor.system()) as fast:
                await write_events(fast.connection, [late])
                await fast.commit()
            await asyncio.sleep(0.5)  # the stream polls while `early` is still open
            await slow.commit()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both.wait(), 5)
        assert received == [early.id, late.id]
    finally:
        reader.cancel()
        await feed.close()


async def test_a_teams_open_streams_each_get_every_event_from_one_read_of_the_log(
    container: Container, tenant: TenantLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ventros.audit.repository import EventLog

    reads = 0
    original = EventLog.committed_after

    async def counted(self: EventLog, *args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(EventLog, "committed_after", counted)
    inboxes = 5
    async with (
        serving(container) as base,
        httpx.AsyncClient(base_url=base, timeout=15) as http,
        contextlib.AsyncExitStack() as streams,
    ):
        responses = [
            await streams.enter_async_context(
                http.stream("GET", "/api/v1/events/stream", headers=tenant.headers)
            )
            for _ in range(inboxes)
        ]
        await asyncio.sleep(0.3)  # every stream has read up to now and waits
        before = reads
        created = [await _create(base, tenant, f"Team {i}") for i in range(3)]
        received = await asyncio.gather(*(read_events(r, 3) for r in responses))
        used = reads - before
    for events in received:
        assert [json.loads(e["data"])["aggregate_id"] for e in events] == created
    # Each commit wakes every stream; streams at the same place share the page they read.
    assert used < inboxes * len(created), f"{used} reads of the log for {inboxes} streams"
