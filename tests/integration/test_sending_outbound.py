"""Outbound WhatsApp end to end: POST /messages/send, the sender consumer (driven with the
framework's `process_event`, no broker) against the WAHA stand-in, then WAHA's acks."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import TenantLogin
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest
from tests.stand_ins.waha import WahaStandIn
from ventros.channels.sender import OPEN, Sender, SenderPolicy
from ventros.channels.waha_client import WahaClient
from ventros.conversations.handlers.sending import CONSUMER_NAME, WhenMessageSendingSendThroughWaha
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Consumer, Outcome, process_event
from ventros.platform.crypto import SecretBox
from ventros.platform.outbox import domain_events
from ventros.platform.ratelimit import RateLimits
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

FAST = SenderPolicy(
    deadline_seconds=5.0,
    attempts=4,
    retry_base_seconds=0.01,
    retry_max_seconds=0.05,
    breaker_failures=2,
    breaker_reset_seconds=60.0,
)
SENT_ID = "3EB0A1C47D92E5F38B6A04"  # the id the ack fixtures refer to
MEDIA = "https://cdn.example.com/files/"


def sender_consumer(
    container: Container, client: WahaClient, policy: SenderPolicy = FAST
) -> tuple[Consumer, Sender]:
    sender = Sender(client, RateLimits(), policy)
    box = SecretBox.from_secret(container.settings.resolved_secret_key())
    return Consumer(
        CONSUMER_NAME,
        ("message.sending",),
        WhenMessageSendingSendThroughWaha(lambda: (sender, box)),
    ), sender


async def channel_with_customer(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    *,
    wrote_seconds_ago: float = 60,
    **channel: Any,
) -> tuple[str, str]:
    """A channel on the stand-in and a customer who wrote `wrote_seconds_ago`."""
    created = await create_channel(client, tenant, base_url=waha.base_url, **channel)
    text = fixture("message.text.json")
    text["payload"]["timestamp"] = int(time.time() - wrote_seconds_ago)
    text["payload"]["_data"]["messageTimestamp"] = text["payload"]["timestamp"]
    await deliver(client, created["id"], text)
    await ingest(container, tenant)
    contacts = await client.get("/api/v1/contacts", headers=tenant.headers)
    return created["id"], contacts.json()["items"][0]["id"]


async def sending_event(container: Container, tenant: TenantLogin, message_id: str) -> DomainEvent:
    from ventros.webhooks.repository import load_event

    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        event_id = (
            await tx.connection.execute(
                select(domain_events.c.id).where(
                    domain_events.c.aggregate_id == uuid.UUID(message_id),
                    domain_events.c.name == "message.sending",
                )
            )
        ).scalar_one()
        event = await load_event(tx, event_id)
    assert event is not None
    return event


async def send(
    client: httpx.AsyncClient, tenant: TenantLogin, body: dict[str, Any], status: int = 202
) -> dict[str, Any]:
    response = await client.post("/api/v1/messages/send", json=body, headers=tenant.headers)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def message(client: httpx.AsyncClient, tenant: TenantLogin, id_: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/messages/{id_}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


BODIES: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    ({"type": "text", "text": "Olá!"}, "/api/sendText", {"text": "Olá!"}),
    (
        {"type": "image", "media_url": MEDIA + "oculos.jpg", "caption": "Modelo novo"},
        "/api/sendImage",
        {"file": {"mimetype": "image/jpeg", "url": MEDIA + "oculos.jpg"}, "caption": "Modelo novo"},
    ),
    (
        {"type": "sticker", "media_url": MEDIA + "joinha.webp"},
        "/api/sendImage",
        {"file": {"mimetype": "image/webp", "url": MEDIA + "joinha.webp"}},
    ),
    (
        {"type": "document", "media_url": MEDIA + "orcamento.pdf", "filename": "Orçamento.pdf"},
        "/api/sendFile",
        {
            "file": {
                "mimetype": "application/pdf",
                "url": MEDIA + "orcamento.pdf",
                "filename": "Orçamento.pdf",
            }
        },
    ),
    (
        {"type": "audio", "media_url": MEDIA + "recado.ogg"},
        "/api/sendVoice",
        {
            "file": {"mimetype": "audio/ogg; codecs=opus", "url": MEDIA + "recado.ogg"},
            "convert": False,
        },
    ),
    (
        {"type": "video", "media_url": MEDIA + "loja.mp4", "caption": "Nossa loja"},
        "/api/sendVideo",
        {
            "file": {"mimetype": "video/mp4", "url": MEDIA + "loja.mp4"},
            "convert": False,
            "caption": "Nossa loja",
        },
    ),
    (
        {"type": "location", "latitude": -23.56, "longitude": -46.69, "title": "Ótica"},
        "/api/sendLocation",
        {"latitude": -23.56, "longitude": -46.69, "title": "Ótica"},
    ),
    (
        {"type": "contact", "vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Loja\nEND:VCARD"},
        "/api/sendContactVcard",
        {"contacts": [{"vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Loja\nEND:VCARD"}]},
    ),
]


async def test_each_message_type_reaches_waha_with_the_right_endpoint_and_body(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    channel_id, contact_id = await channel_with_customer(client, container, tenant, waha)
    consumer, _ = sender_consumer(container, waha_client)
    for body, path, expected in BODIES:
        accepted = await send(client, tenant, {"contact_id": contact_id, **body})
        assert accepted["status"] == "pending"
        event = await sending_event(container, tenant, accepted["id"])
        assert await process_event(container.uow, consumer, event) is Outcome.PROCESSED
        request = waha.sends()[-1]
        assert request.path == path
        assert request.headers["X-Api-Key"] == "waha-api-key-123"
        assert request.body == {"session": "default", "chatId": "5511976543210@c.us", **expected}
        stored = await message(client, tenant, accepted["id"])
        assert stored["status"] == "sent", stored
        assert stored["external_id"] == waha.answered_ids[-1]
        assert stored["type"] == body["type"]
    assert len(waha.sends()) == len(BODIES)
    del channel_id


async def test_a_sent_message_moves_to_delivered_and_read_with_wahas_acks(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    channel_id, contact_id = await channel_with_customer(client, container, tenant, waha)
    consumer, _ = sender_consumer(container, waha_client)
    waha.next_key_ids.append(SENT_ID)
    accepted = await send(client, tenant, {"contact_id": contact_id, "type": "text", "text": "Oi"})
    assert accepted == {"id": accepted["id"], "status": "pending"}
    await process_event(
        container.uow, consumer, await sending_event(container, tenant, accepted["id"])
    )
    sent = await message(client, tenant, accepted["id"])
    assert sent["status"] == "sent"
    assert sent["external_id"] == f"true_5511976543210@c.us_{SENT_ID}"
    await deliver(client, channel_id, "message.ack.delivered.json")
    await ingest(container, tenant)
    assert (await message(client, tenant, accepted["id"]))["status"] == "delivered"
    # WAHA's message.any copy of the sent message collapses into it (same id).
    await deliver(client, channel_id, "message.from_me.json", "message.ack.read.json")
    await ingest(container, tenant)
    read = await message(client, tenant, accepted["id"])
    assert read["status"] == "read"
    assert read["read_at"] is not None


async def test_an_ack_that_arrives_before_the_sender_learns_the_id_is_applied(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    channel_id, contact_id = await channel_with_customer(client, container, tenant, waha)
    consumer, _ = sender_consumer(container, waha_client)
    waha.next_key_ids.append(SENT_ID)
    accepted = await send(client, tenant, {"contact_id": contact_id, "type": "text", "text": "Oi"})
    await deliver(client, channel_id, "message.ack.delivered.json")
    await ingest(container, tenant)
    await process_event(
        container.uow, consumer, await sending_event(container, tenant, accepted["id"])
    )
    assert (await message(client, tenant, accepted["id"]))["status"] == "delivered"


async def test_outside_the_24h_window_a_channel_that_enforces_it_answers_422(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: WahaStandIn
) -> None:
    _, contact_id = await channel_with_customer(
        client, container, tenant, waha, wrote_seconds_ago=25 * 3600, enforce_24h_window=True
    )
    refused = await send(
        client, tenant, {"contact_id": contact_id, "type": "text", "text": "Oi"}, status=422
    )
    assert "24 h" in refused["detail"]


async def test_inside_the_24h_window_the_message_is_accepted(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, waha: WahaStandIn
) -> None:
    _, contact_id = await channel_with_customer(
        client, container, tenant, waha, wrote_seconds_ago=23 * 3600, enforce_24h_window=True
    )
    await send(client, tenant, {"contact_id": contact_id, "type": "text", "text": "Oi"})


async def test_invalid_bodies_and_foreign_contacts_are_refused(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    other_tenant: TenantLogin,
    waha: WahaStandIn,
) -> None:
    _, contact_id = await channel_with_customer(client, container, tenant, waha)
    await send(client, tenant, {"contact_id": contact_id, "type": "text"}, status=422)
    await send(client, tenant, {"contact_id": contact_id, "type": "image"}, status=422)
    await send(client, tenant, {"contact_id": contact_id, "type": "poll"}, status=422)
    await send(
        client, other_tenant, {"contact_id": contact_id, "type": "text", "text": "x"}, status=404
    )


async def test_a_waha_500_is_retried_and_then_succeeds_once(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    _, contact_id = await channel_with_customer(client, container, tenant, waha)
    consumer, _ = sender_consumer(container, waha_client)
    waha.fail(times=2, status=502)
    accepted = await send(client, tenant, {"contact_id": contact_id, "type": "text", "text": "Oi"})
    event = await sending_event(container, tenant, accepted["id"])
    await process_event(container.uow, consumer, event)
    assert len(waha.sends()) == 3
    assert (await message(client, tenant, accepted["id"]))["status"] == "sent"
    # Redelivered: handled before, nothing sent again.
    assert await process_event(container.uow, consumer, event) is Outcome.DUPLICATE
    assert len(waha.sends()) == 3


async def test_a_waha_that_stays_down_fails_the_message_and_opens_the_breaker(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    channel_id, contact_id = await channel_with_customer(client, container, tenant, waha)
    consumer, sender = sender_consumer(container, waha_client)
    waha.fail_always = True
    failed = []
    for _ in range(3):
        accepted = await send(
            client, tenant, {"contact_id": contact_id, "type": "text", "text": "Oi"}
        )
        event = await sending_event(container, tenant, accepted["id"])
        await process_event(container.uow, consumer, event)
        failed.append(await message(client, tenant, accepted["id"]))
    assert [m["status"] for m in failed] == ["failed"] * 3
    assert "500" in failed[0]["error"]
    assert "circuit breaker open" in failed[2]["error"]
    # Two messages of FAST.attempts tries each; the third never reached WAHA.
    assert len(waha.sends()) == 2 * FAST.attempts
    assert sender.breaker(uuid.UUID(channel_id)).state == OPEN


async def test_a_4xx_is_not_retried(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    _, contact_id = await channel_with_customer(client, container, tenant, waha)
    consumer, _ = sender_consumer(container, waha_client)
    waha.fail(times=1, status=400)
    accepted = await send(client, tenant, {"contact_id": contact_id, "type": "text", "text": "x"})
    await process_event(
        container.uow, consumer, await sending_event(container, tenant, accepted["id"])
    )
    stored = await message(client, tenant, accepted["id"])
    assert stored["status"] == "failed"
    assert "400" in stored["error"]
    assert len(waha.sends()) == 1


async def test_the_channels_rate_limit_spaces_the_sends(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    _, contact_id = await channel_with_customer(
        client, container, tenant, waha, rate_limit_per_minute=2
    )
    policy = SenderPolicy(deadline_seconds=1.5, attempts=1, breaker_failures=10)
    consumer, _ = sender_consumer(container, waha_client, policy)
    statuses = []
    for _ in range(3):
        accepted = await send(
            client, tenant, {"contact_id": contact_id, "type": "text", "text": "Oi"}
        )
        await process_event(
            container.uow, consumer, await sending_event(container, tenant, accepted["id"])
        )
        statuses.append(await message(client, tenant, accepted["id"]))
    assert [m["status"] for m in statuses] == ["sent", "sent", "failed"]
    assert "rate limit" in statuses[2]["error"]
    assert len(waha.sends()) == 2


async def test_viewers_cannot_send(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    from tests.conftest import TEST_PASSWORD, login

    email = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    created = await client.post(
        "/api/v1/agents",
        json={"email": email, "name": "Viewer", "password": TEST_PASSWORD, "role": "viewer"},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    token = await login(client, email)
    response = await client.post(
        "/api/v1/messages/send",
        json={"contact_id": str(uuid.uuid4()), "type": "text", "text": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
