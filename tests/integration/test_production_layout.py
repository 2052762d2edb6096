"""The production layout of the README's "What runs" table, each role its own OS process:
two `ventros api`, two `ventros worker`, `ventros ingest`, one `ventros relay` and one
`ventros temporal-worker`, on RabbitMQ, PostgreSQL and a Temporal dev server.

Signed WAHA webhooks go to both APIs; the ingest turns them into contacts, sessions and
messages; the relay publishes the events; the workers assign the sessions, start their
lifecycle workflows, fan out a webhook and start an ad enrichment; the Temporal worker
times the sessions out (2 s), delivers the webhook to a loopback receiver and enriches the
tracking from the ads stand-in. Nothing ends in a dead-letter queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin, fresh_database, make_settings, new_tenant
from tests.integration.ads_kit import WABA_ID
from tests.integration.processes import VentrosProcess, api_process, eventually, ventros_env
from tests.integration.temporal_kit import local_temporal
from tests.integration.test_bus_support import rabbitmq_url
from tests.integration.test_webhooks_delivery import Receiver
from tests.integration.waha_kit import create_channel, fixture, post_webhook
from ventros.platform.bus import RetryPolicy
from ventros.platform.bus.rabbitmq import RabbitMQBus
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.registry import wire
from ventros.stand_ins.ads import VALID_TOKEN, AdsStandIn
from ventros.stand_ins.waha import chat_id_of, customer_payload, envelope

pytestmark = pytest.mark.integration

CUSTOMERS = ("5511976540001", "5511976540002")
LEAD_PHONE = "5511962345871"  # the sender of message.ctwa_ad_referral.json
WEBHOOK_SECRET = "whsec_production-layout"
ROLES = ("worker", "worker", "ingest", "relay", "temporal-worker")
# Seven processes start at once: on a loaded machine that takes a while.
START_SECONDS = 180
WITHIN_SECONDS = 120


@pytest.fixture(scope="module")
async def temporal_address() -> AsyncIterator[str]:
    async with await local_temporal() as env:
        yield env.client.service_client.config.target_host


@pytest.fixture
async def layout_database(server_url: str) -> AsyncIterator[tuple[str, Container]]:
    """A database of the layout's own: its relay publishes every unpublished outbox row,
    so it must not see the other tests' events."""
    with fresh_database(server_url, f"ventros_layout_{uuid.uuid4().hex[:8]}") as url:
        container = bootstrap(make_settings(), database_url=url)
        try:
            yield url, container
        finally:
            await container.aclose()


@pytest.fixture
def stand_in() -> Iterator[AdsStandIn]:
    with AdsStandIn() as server:
        yield server


def _text_message(phone: str, body: str) -> dict[str, Any]:
    """A customer's text as WAHA posts it (the WAHA stand-in's own wire format)."""
    return envelope("message", "default", customer_payload(chat_id_of(phone), body, push_name=None))


async def _sessions(http: httpx.AsyncClient, admin: TenantLogin) -> list[dict[str, Any]]:
    response = await http.get("/api/v1/sessions", params={"limit": 100}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _prepare_tenant(
    http: httpx.AsyncClient, admin: TenantLogin, receiver: Receiver
) -> dict[str, Any]:
    """Timeout 2 s and automatic assignment; one available agent; a webhook subscription
    to the receiver; a Meta ad integration; a WAHA channel."""
    settings = {"session_timeout_seconds": 2, "auto_assign": True}
    response = await http.patch("/api/v1/settings", json=settings, headers=admin.headers)
    assert response.status_code == 200, response.text
    agent = await http.post(
        "/api/v1/agents",
        json={
            "email": f"agent-{uuid.uuid4().hex[:8]}@example.com",
            "name": "Agent",
            "password": "agent-password-123",
            "role": "agent",
            "max_concurrent_sessions": 10,
        },
        headers=admin.headers,
    )
    assert agent.status_code == 201, agent.text
    available = await http.put(
        f"/api/v1/agents/{agent.json()['id']}/status",
        json={"status": "available"},
        headers=admin.headers,
    )
    assert available.status_code == 200, available.text
    hook = await http.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "secret": WEBHOOK_SECRET, "events": ["session.*"]},
        headers=admin.headers,
    )
    assert hook.status_code == 201, hook.text
    integration = await http.put(
        "/api/v1/ad-integrations/meta",
        json={"access_token": VALID_TOKEN, "config": {"dataset_id": "1", "waba_id": WABA_ID}},
        headers=admin.headers,
    )
    assert integration.status_code == 200, integration.text
    return await create_channel(http, admin)


async def _dead_letters(url: str, prefix: str, container: Container) -> list[Any]:
    """The dead letters under the layout's prefix; then every name it declared goes."""
    bus = RabbitMQBus(url, prefix=prefix, retry=RetryPolicy())
    try:
        await bus.start(wire(container).queue_specs())
        letters = list(await bus.dead_letters(None, 100))
        await bus.delete_all()
    finally:
        await bus.close()
    return letters


async def _workers_consume(url: str, prefix: str, container: Container) -> bool:
    """Whether both worker processes consume every queue: messages posted before would
    wait for them, and a 2 s session could time out before it is assigned."""
    import aio_pika

    connection = await aio_pika.connect(url)
    try:
        for spec in wire(container).queue_specs():
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(prefix + spec.name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                return False
            if queue.declaration_result.consumer_count < 2:
                return False
        return True
    finally:
        await connection.close()


async def test_the_production_layout_serves_inbound_whatsapp_end_to_end(
    layout_database: tuple[str, Container],
    temporal_address: str,
    stand_in: AdsStandIn,
    tmp_path: Path,
) -> None:
    broker = rabbitmq_url()
    owner_url, container = layout_database
    prefix = f"prod{uuid.uuid4().hex[:8]}."
    settings = {
        "rabbitmq_url": broker,
        "rabbitmq_prefix": prefix,
        "temporal_address": temporal_address,
        "temporal_task_queue": f"prod-{uuid.uuid4().hex[:8]}",
        "webhooks_allow_private": "true",
        "waha_allow_private": "true",  # the WAHA stand-in listens on loopback
        "ads_graph_base_url": stand_in.url,
        "home": str(tmp_path / "home"),
    }
    env = ventros_env(owner_url, **settings)
    receiver = Receiver(WEBHOOK_SECRET)
    roles: list[VentrosProcess] = []
    with ExitStack() as cleanup:
        cleanup.callback(receiver.close)
        for index, role in enumerate(ROLES):
            roles.append(VentrosProcess(role, env, tmp_path / f"{role}-{index}.log"))
            cleanup.callback(roles[-1].stop)
        async with (
            api_process(owner_url, start_seconds=START_SECONDS, **settings) as first,
            api_process(owner_url, start_seconds=START_SECONDS, **settings) as second,
            httpx.AsyncClient(base_url=first, timeout=10) as api_one,
            httpx.AsyncClient(base_url=second, timeout=10) as api_two,
        ):
            try:
                await eventually(
                    lambda: _workers_consume(broker, prefix, container),
                    within=WITHIN_SECONDS,
                    interval=0.5,
                )
                await _serve_customers(container, api_one, api_two, receiver)
            except AssertionError as failed:
                logs = "\n".join(f"--- {p.log_path.name}\n{p.log()[-2000:]}" for p in roles)
                raise AssertionError(f"{failed}\n{logs}") from failed
            for process in roles:  # every role still up: none crashed on the way
                assert process.process.poll() is None, process.log()[-3000:]
    assert await _dead_letters(broker, prefix, container) == []


async def _serve_customers(
    container: Container, api_one: httpx.AsyncClient, api_two: httpx.AsyncClient, receiver: Receiver
) -> None:
    admin = await new_tenant(container, api_one)
    channel = await _prepare_tenant(api_one, admin, receiver)

    # Customers write in, through either API; a click-to-WhatsApp lead too.
    for phone, api in zip(CUSTOMERS, (api_one, api_two), strict=True):
        stored = await post_webhook(api, channel["id"], _text_message(phone, "Olá!"))
        assert stored.status_code == 200, stored.text
    lead = await post_webhook(api_two, channel["id"], fixture("message.ctwa_ad_referral.json"))
    assert lead.status_code == 200, lead.text

    # Sessions open (the ingest) and are assigned (a worker), then time out (the
    # Temporal worker's lifecycle workflows, 2 s after the last message).
    last: list[dict[str, Any]] = []

    async def opened_and_assigned() -> bool:
        last[:] = await _sessions(api_two, admin)
        return len(last) == 3 and all(s["agent_id"] for s in last)

    try:
        await eventually(opened_and_assigned, within=WITHIN_SECONDS, interval=1.0)
    except AssertionError as failed:
        raise AssertionError(f"{failed}; sessions: {last}") from failed

    async def timed_out() -> bool:
        found = await _sessions(api_one, admin)
        return all((s["status"], s["close_reason"]) == ("closed", "timeout") for s in found)

    await eventually(timed_out, within=WITHIN_SECONDS, interval=1.0)

    # The webhook subscription got the sessions' events, signed, over loopback.
    async def delivered() -> bool:
        names = [event["name"] for event in receiver.handled]
        return names.count("session.started") == 3 and names.count("session.closed") == 3

    await eventually(delivered, within=WITHIN_SECONDS, interval=1.0)

    # The lead's tracking is enriched from the ads stand-in.
    async def enriched() -> bool:
        response = await api_one.get("/api/v1/trackings", headers=admin.headers)
        assert response.status_code == 200, response.text
        return any(t.get("campaign_name") for t in response.json()["items"])

    await eventually(enriched, within=WITHIN_SECONDS, interval=1.0)
