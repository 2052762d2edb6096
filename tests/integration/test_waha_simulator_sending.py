"""Ventros against the WAHA simulator served over real HTTP: what the simulator posts is
ingested (customer messages, acks), and the sender's dispatch mode (the worker's) sends
through it outside the transaction — once, in order per chat, with retries and failures
recorded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_sending_outbound import message, send, sending_event
from tests.integration.waha_kit import create_channel, ingest, rows
from ventros.channels.sender import OPEN, Sender, SenderPolicy
from ventros.channels.waha_client import WahaClient
from ventros.conversations.handlers.sending import CONSUMER_NAME, WhenMessageSendingSendThroughWaha
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Consumer, Outcome, process_event
from ventros.platform.crypto import SecretBox
from ventros.platform.ratelimit import RateLimits
from ventros.runtime.container import Container
from ventros.stand_ins.waha import WahaSimulator, server_for

pytestmark = pytest.mark.integration

SECRET = "whsec-simulador-Ótica"
FAST = SenderPolicy(
    deadline_seconds=5.0,
    attempts=3,
    retry_base_seconds=0.01,
    retry_max_seconds=0.05,
    breaker_failures=2,
    breaker_reset_seconds=60.0,
)


class Running:
    def __init__(self, sim: WahaSimulator, url: str) -> None:
        self.sim = sim
        self.url = url


@pytest.fixture
async def waha(client: httpx.AsyncClient) -> AsyncIterator[Running]:
    sim = WahaSimulator(api_key="sim-key", webhook_secret=SECRET, ack_delay_seconds=0)
    sim._http = client  # the simulator's webhooks reach the in-process API
    server = server_for(sim, port=0)
    task = asyncio.create_task(server.serve())
    await asyncio.wait_for(server.ready.wait(), 10)
    sim.base_url = f"http://127.0.0.1:{server.port}"  # its media links point at itself
    try:
        yield Running(sim, sim.base_url)
    finally:
        sim._http = None  # the API client is the session's
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def customer_writes(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: Running
) -> tuple[str, str]:
    """A channel on the simulator, and a customer who wrote in through it."""
    channel = await create_channel(
        client, tenant, base_url=waha.url, api_key="sim-key", webhook_secret=SECRET
    )
    waha.sim.webhook_url = f"http://ventros.test/webhooks/waha/{channel['id']}"
    _, status = await waha.sim.customer_message(
        "5511976543210", "Oi! Vocês entregam?", push_name="Mariana Costa"
    )
    assert status == 200
    await ingest(container, tenant)
    contacts = await client.get("/api/v1/contacts", headers=tenant.headers)
    return channel["id"], contacts.json()["items"][0]["id"]


def dispatching(
    container: Container, client: WahaClient, policy: SenderPolicy = FAST
) -> tuple[Consumer, WhenMessageSendingSendThroughWaha, Sender]:
    sender = Sender(client, RateLimits(), policy)
    box = SecretBox.from_secret(container.settings.resolved_secret_key())
    handler = WhenMessageSendingSendThroughWaha(lambda: (sender, box), dispatch=True)
    return Consumer(CONSUMER_NAME, ("message.sending",), handler), handler, sender


async def drained(handler: WhenMessageSendingSendThroughWaha) -> None:
    """What a stopping worker does: wait until every handed-over message is recorded."""
    await asyncio.wait_for(handler.drain(), 10)


async def queue_text(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, contact: str, text: str
) -> tuple[str, DomainEvent]:
    accepted = await send(client, tenant, {"contact_id": contact, "type": "text", "text": text})
    return accepted["id"], await sending_event(container, tenant, accepted["id"])


async def test_ventros_ingests_the_simulators_signed_customer_message(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: Running
) -> None:
    _, contact_id = await customer_writes(client, container, tenant, waha)
    contact = (await client.get(f"/api/v1/contacts/{contact_id}", headers=tenant.headers)).json()
    assert contact["phone"] == "+5511976543210"
    stored = await rows(
        container, tenant, "SELECT direction, text, chat_id FROM messages ORDER BY created_at"
    )
    assert [(r.direction, r.text, r.chat_id) for r in stored] == [
        ("inbound", "Oi! Vocês entregam?", "5511976543210@c.us")
    ]


async def test_a_wrong_secret_is_refused_by_ventros(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: Running
) -> None:
    channel = await create_channel(client, tenant, base_url=waha.url, webhook_secret=SECRET)
    url = f"http://ventros.test/webhooks/waha/{channel['id']}"
    _, status = await waha.sim.customer_message("5511976543210", "x", url=url, secret="wrong")
    assert status == 401


async def test_dispatch_sends_outside_the_transaction_and_acks_mark_it_delivered(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    waha_client: WahaClient,
) -> None:
    _, contact_id = await customer_writes(client, container, tenant, waha)
    consumer, handler, _ = dispatching(container, waha_client)
    message_id, event = await queue_text(client, container, tenant, contact_id, "Entregamos!")
    assert await process_event(container.uow, consumer, event) is Outcome.PROCESSED
    await drained(handler)
    [sent] = waha.sim.sends
    assert sent.path == "/api/sendText"
    assert sent.body == {
        "session": "default",
        "chatId": "5511976543210@c.us",
        "text": "Entregamos!",
    }
    stored = await message(client, tenant, message_id)
    assert stored["status"] == "sent"
    assert stored["external_id"] == sent.message_id
    # The simulator's acks (sent, delivered) reached the webhook; once ingested: delivered.
    for _ in range(100):
        if waha.sim.webhooks_posted >= 3:  # the customer's message and two acks
            break
        await asyncio.sleep(0.02)
    await ingest(container, tenant)
    assert (await message(client, tenant, message_id))["status"] == "delivered"


async def test_dispatch_never_sends_a_message_twice(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    waha_client: WahaClient,
) -> None:
    _, contact_id = await customer_writes(client, container, tenant, waha)
    consumer, handler, _ = dispatching(container, waha_client)
    waha.sim.delay_seconds = 0.2  # still in flight when handed over again
    message_id, event = await queue_text(client, container, tenant, contact_id, "Uma vez")
    # A batch rolled back and retried hands the same event over again while it is in flight.
    for _ in range(2):
        async with container.uow(tenant.tenant_id, Actor.system()) as tx:
            await handler(event, tx)  # not committed: rolled back
    await drained(handler)
    assert waha.sim.sends_total == 1
    # Redelivered after it was sent: handled before, or sent already — nothing goes out.
    assert await process_event(container.uow, consumer, event) is Outcome.PROCESSED
    assert await process_event(container.uow, consumer, event) is Outcome.DUPLICATE
    await drained(handler)
    assert waha.sim.sends_total == 1
    assert (await message(client, tenant, message_id))["status"] == "sent"


async def test_dispatch_keeps_a_chats_order_and_retries_5xx(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    waha_client: WahaClient,
) -> None:
    _, contact_id = await customer_writes(client, container, tenant, waha)
    consumer, handler, _ = dispatching(container, waha_client)
    queued = [
        await queue_text(client, container, tenant, contact_id, f"parte {n}") for n in range(6)
    ]
    waha.sim.fail_status, waha.sim.fail_count = 502, 2
    for _, event in queued:
        assert await process_event(container.uow, consumer, event) is Outcome.PROCESSED
    await drained(handler)
    assert [s.body["text"] for s in waha.sim.sends] == [f"parte {n}" for n in range(6)]
    assert waha.sim.fail_count == 0  # both failures were answered, then retried
    for message_id, _ in queued:
        assert (await message(client, tenant, message_id))["status"] == "sent"


async def test_dispatch_records_failures_and_opens_the_breaker(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    waha_client: WahaClient,
) -> None:
    channel_id, contact_id = await customer_writes(client, container, tenant, waha)
    consumer, handler, sender = dispatching(container, waha_client)
    waha.sim.fail_always = True
    failed: list[dict[str, Any]] = []
    for n in range(3):
        message_id, event = await queue_text(client, container, tenant, contact_id, f"m{n}")
        await process_event(container.uow, consumer, event)
        await drained(handler)
        failed.append(await message(client, tenant, message_id))
    assert [m["status"] for m in failed] == ["failed"] * 3
    assert "500" in failed[0]["error"]
    assert "circuit breaker open" in failed[2]["error"]
    assert sender.breaker(uuid.UUID(channel_id)).state == OPEN
    assert waha.sim.sends_total == 0


async def test_a_wahas_timeout_is_retried_then_fails_the_message(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: Running
) -> None:
    _, contact_id = await customer_writes(client, container, tenant, waha)
    slow = WahaClient.create(timeout_seconds=0.1)
    try:
        consumer, handler, _ = dispatching(container, slow)
        waha.sim.delay_seconds = 1.0
        message_id, event = await queue_text(client, container, tenant, contact_id, "lento")
        await process_event(container.uow, consumer, event)
        await drained(handler)
    finally:
        await slow.aclose()
    stored = await message(client, tenant, message_id)
    assert stored["status"] == "failed"
    assert "timed out" in stored["error"]


async def test_a_message_abandoned_by_a_dead_sender_is_failed_not_sent_late(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: Running,
    waha_client: WahaClient,
) -> None:
    from sqlalchemy import text

    from ventros.conversations.handlers.sending import fail_abandoned_sends

    _, contact_id = await customer_writes(client, container, tenant, waha)
    abandoned, _ = await queue_text(client, container, tenant, contact_id, "perdida")
    recent, _ = await queue_text(client, container, tenant, contact_id, "recente")
    # Handed over by a worker that died before WAHA answered: still pending, long ago.
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await tx.connection.execute(
            text("UPDATE messages SET created_at = now() - interval '10 minutes' WHERE id = :id"),
            {"id": uuid.UUID(abandoned)},
        )
        await tx.commit()

    failed = await fail_abandoned_sends(
        container.uow, container.database.system, deadline_seconds=120
    )

    assert failed >= 1  # other tests' tenants share the database
    gone = await message(client, tenant, abandoned)
    assert gone["status"] == "failed"
    assert "stopped before" in gone["error"]
    assert (await message(client, tenant, recent))["status"] == "pending"  # within deadline
    assert not waha.sim.sends


def test_waha_sim_say_posts_a_signed_message_straight_to_a_webhook_url() -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from typer.testing import CliRunner

    from ventros.channels.waha.signature import signature_matches
    from ventros.cli import app

    received: list[tuple[dict[str, str], bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/waha/c1"
        result = CliRunner().invoke(
            app,
            ["waha-sim", "say", "--to-url", url, "--secret", SECRET, "--from", "+55 11 97654-3210",
             "Tem horário amanhã?"],
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    [(headers, body)] = received
    assert signature_matches(SECRET, body, headers["X-Webhook-Hmac"])
    data = json.loads(body)
    assert data["event"] == "message"
    assert data["payload"]["from"] == "5511976543210@c.us"
    assert data["payload"]["body"] == "Tem horário amanhã?"
