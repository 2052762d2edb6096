"""A private note never reaches WhatsApp: with a real channel on the WAHA stand-in, every
event the note raised goes through the WhatsApp sender and nothing is sent, while a reply
in the same conversation is (so the harness does send what it should)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import TenantLogin
from tests.integration.test_sending_outbound import channel_with_customer, sender_consumer
from tests.stand_ins.waha import WahaStandIn
from ventros.channels.waha_client import WahaClient
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import process_event
from ventros.platform.outbox import domain_events
from ventros.runtime.container import Container
from ventros.webhooks.repository import load_event

pytestmark = pytest.mark.integration


async def _events_after(
    container: Container, tenant: TenantLogin, after: uuid.UUID | None
) -> list[DomainEvent]:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        query = select(domain_events.c.id).order_by(domain_events.c.id)
        if after is not None:
            query = query.where(domain_events.c.id > after)
        ids = list((await tx.connection.execute(query)).scalars())
        loaded = [await load_event(tx, event_id) for event_id in ids]
    return [event for event in loaded if event is not None]


async def test_a_note_with_a_mention_sends_nothing_to_waha(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    h = tenant.headers
    _, contact_id = await channel_with_customer(client, container, tenant, waha)
    [session] = (await client.get(f"/api/v1/sessions?contact_id={contact_id}", headers=h)).json()[
        "items"
    ]
    consumer, _ = sender_consumer(container, waha_client)
    before = await _events_after(container, tenant, None)
    last = before[-1].id if before else None

    handle = tenant.email.partition("@")[0]
    note = await client.post(
        f"/api/v1/sessions/{session['id']}/notes",
        json={"text": f"Não enviar ao cliente: desconto de 10% aprovado @{handle}"},
        headers=h,
    )
    assert note.status_code == 201, note.text
    raised = await _events_after(container, tenant, last)
    assert {e.name for e in raised} == {"session.note_added", "agent.mentioned"}
    # The sender is subscribed to `message.sending` only; hand it every event anyway.
    for event in raised:
        await process_event(container.uow, consumer, event)
    assert waha.sends() == []
    stored = (await client.get(f"/api/v1/messages/{note.json()['id']}", headers=h)).json()
    assert stored["status"] == "internal"
    assert stored["external_id"] is None

    # The same harness does deliver a reply of the same conversation to WAHA.
    reply = await client.post(
        "/api/v1/messages/send",
        json={"contact_id": contact_id, "type": "text", "text": "Olá!"},
        headers=h,
    )
    assert reply.status_code == 202, reply.text
    for event in await _events_after(container, tenant, raised[-1].id):
        if event.name == "message.sending":
            await process_event(container.uow, consumer, event)
    assert [request.body["text"] for request in waha.sends()] == ["Olá!"]
