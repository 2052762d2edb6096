"""The webhook's group commit (`InboundIntake`) and its lean lane: deliveries arriving
together are stored in one transaction, yet each gets its own answer — a repeat is stored
once, a bad one fails alone, tenants stay apart."""

import asyncio
import json
import re
import uuid

import httpx
import pytest
from sqlalchemy.exc import DBAPIError

from tests.conftest import TenantLogin
from tests.integration.waha_kit import compact, create_channel, fixture, post_webhook, scalar
from ventros.channels.intake import InboundIntake
from ventros.channels.repository import NewInboundEvent
from ventros.kernel.ids import new_id
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


def _event(
    login: TenantLogin, channel_id: str, key: str, body: str | None = None
) -> NewInboundEvent:
    return NewInboundEvent(
        id=new_id(),
        tenant_id=login.tenant_id,
        channel_id=uuid.UUID(channel_id),
        event_key=key,
        event="message",
        raw_json=body or json.dumps({"id": key, "event": "message", "session": "default"}),
    )


async def _count(container: Container, login: TenantLogin, channel_id: str) -> int:
    sql = "SELECT count(*) FROM inbound_events WHERE channel_id = :id"
    return int(await scalar(container, login, sql, id=channel_id))


async def test_deliveries_queued_together_are_one_commit_and_a_repeat_in_it_is_stored_once(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    intake = InboundIntake(container.database.app)
    events = [_event(tenant, channel_id, f"evt_{n}") for n in range(30)]
    repeat = _event(tenant, channel_id, "evt_7")  # same WAHA event id, another delivery

    results = await asyncio.gather(*(intake.store(e) for e in [*events, repeat]))

    assert results == [True] * 30 + [False]
    assert intake.batches == 1
    assert await _count(container, tenant, channel_id) == 30
    stored_id = await scalar(
        container,
        tenant,
        "SELECT id FROM inbound_events WHERE channel_id = :id AND event_key = 'evt_7'",
        id=channel_id,
    )
    assert stored_id == events[7].id  # the first delivery wins, the repeat adds nothing
    # Stored before: still a repeat in a later batch.
    assert await intake.store(_event(tenant, channel_id, "evt_3")) is False
    assert await _count(container, tenant, channel_id) == 30


async def test_a_delivery_postgresql_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    intake = InboundIntake(container.database.app)
    good = [_event(tenant, channel_id, f"evt_{n}") for n in range(5)]
    bad = _event(tenant, channel_id, "evt_nul", body='{"event": "message", "x": "a\\u0000b"}')

    results = await asyncio.gather(
        *(intake.store(e) for e in [*good[:2], bad, *good[2:]]), return_exceptions=True
    )

    assert results[:2] == [True, True]
    assert results[3:] == [True, True, True]
    assert isinstance(results[2], DBAPIError)
    assert intake.batches == 1
    assert await _count(container, tenant, channel_id) == 5
    keys = await scalar(
        container,
        tenant,
        "SELECT string_agg(event_key, ',' ORDER BY event_key) FROM inbound_events"
        " WHERE channel_id = :id",
        id=channel_id,
    )
    assert keys == "evt_0,evt_1,evt_2,evt_3,evt_4"


async def test_a_batch_spanning_tenants_stores_each_delivery_as_its_own_tenant(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
) -> None:
    mine = (await create_channel(client, tenant))["id"]
    theirs = (await create_channel(client, other_tenant))["id"]
    intake = InboundIntake(container.database.app)
    events = [
        _event(tenant, mine, f"evt_{n}") if n % 2 else _event(other_tenant, theirs, f"evt_{n}")
        for n in range(10)
    ]

    assert await asyncio.gather(*(intake.store(e) for e in events)) == [True] * 10

    everything = "SELECT count(*) FROM inbound_events WHERE channel_id IN (:a, :b)"
    # Row-level security: each tenant sees its own five, under its own tenant id.
    assert await scalar(container, tenant, everything, a=mine, b=theirs) == 5
    assert await scalar(container, other_tenant, everything, a=mine, b=theirs) == 5
    owner = "SELECT count(*) FROM inbound_events WHERE channel_id = :id AND tenant_id = :t"
    assert await scalar(container, tenant, owner, id=mine, t=tenant.tenant_id) == 5
    assert await scalar(container, other_tenant, owner, id=theirs, t=other_tenant.tenant_id) == 5


async def test_concurrent_webhooks_each_get_their_own_answer(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]

    def message(n: int) -> dict[str, object]:
        envelope = fixture("message.text.json")
        envelope["id"] = f"evt_concurrent_{n}"
        envelope["payload"]["id"] = f"false_5511999990000@c.us_CONCURRENT{n}"
        return envelope

    nul = message(99)
    nul["payload"]["body"] = "a\u0000b"
    posts = [
        *(post_webhook(client, channel_id, message(n)) for n in range(12)),
        post_webhook(client, channel_id, message(3)),  # a repeat
        post_webhook(client, channel_id, nul),  # PostgreSQL refuses it: 422
        post_webhook(client, str(uuid.uuid4()), message(50)),  # no such channel
        post_webhook(client, channel_id, message(51), secret="not-the-secret"),
    ]

    answers = await asyncio.gather(*posts)

    assert [a.status_code for a in answers] == [200] * 13 + [422, 404, 401]
    assert [a.json()["status"] for a in answers[:13]].count("stored") == 12
    # Whichever of the two deliveries of event 3 came first is stored, the other is not.
    assert sorted(answers[n].json()["status"] for n in (3, 12)) == ["duplicate", "stored"]
    assert await _count(container, tenant, channel_id) == 12


async def test_the_webhook_keeps_request_ids_security_headers_and_metrics(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    body = compact(fixture("message.text.json"))

    echoed = await post_webhook(client, channel_id, body, headers={"X-Request-ID": "waha-42"})
    generated = await post_webhook(client, str(uuid.uuid4()), body)

    assert echoed.status_code == 200
    assert echoed.headers["x-request-id"] == "waha-42"
    assert echoed.headers["content-type"] == "application/json"
    assert generated.status_code == 404
    assert generated.headers["content-type"].startswith("application/problem+json")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    for answer in (echoed, generated):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
    metrics = (await client.get("/metrics")).text
    for status in (200, 404):
        label = f'method="POST",route="/webhooks/waha/{{channel_id}}",status="{status}"'
        assert f"http_requests_total{{{label}}}" in metrics


async def test_other_methods_and_paths_under_webhooks_are_left_to_the_router(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    channel_id = (await create_channel(client, tenant))["id"]
    assert (await client.get(f"/webhooks/waha/{channel_id}")).status_code == 405
    nested = await client.post(f"/webhooks/waha/{channel_id}/extra", content=b"{}")
    assert nested.status_code == 404
