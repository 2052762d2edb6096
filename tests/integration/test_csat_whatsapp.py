"""CSAT over WhatsApp against the WAHA stand-in: on close (tenant setting `csat_on_close`)
the customer gets the rating question through the sender; a 1-5 reply becomes the closed
session's CSAT, with the agent assigned at close; an unrelated reply opens a new session
instead; outside the 24 h window nothing is sent and the reason is recorded."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import TenantLogin
from tests.integration.test_sending_outbound import sender_consumer
from tests.integration.test_service_metrics import whatsapp_message
from tests.integration.test_sessions_assignment import add_agent
from tests.integration.waha_kit import create_channel, deliver, ingest, rows
from tests.stand_ins.waha import WahaStandIn
from ventros.channels.waha_client import WahaClient
from ventros.conversations.handlers.csat import CONSUMERS as CSAT_CONSUMERS
from ventros.conversations.repository import SessionRepository
from ventros.conversations.service import assignment, csat
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Outcome, process_event
from ventros.platform.outbox import domain_events
from ventros.runtime.container import Container
from ventros.webhooks.repository import load_event

pytestmark = pytest.mark.integration

QUESTION = "How did we do today? Reply with a number from 1 (bad) to 5 (great)."

[CSAT] = CSAT_CONSUMERS


async def _event(
    container: Container, tenant: TenantLogin, aggregate_id: uuid.UUID, name: str
) -> DomainEvent:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        event_id = (
            await tx.connection.execute(
                select(domain_events.c.id).where(
                    domain_events.c.aggregate_id == aggregate_id, domain_events.c.name == name
                )
            )
        ).scalar_one()
        event = await load_event(tx, event_id)
    assert event is not None
    return event


async def _events_named(container: Container, tenant: TenantLogin, name: str) -> list[Any]:
    return await rows(
        container,
        tenant,
        "SELECT aggregate_id, data AS payload FROM domain_events"
        " WHERE name = :n ORDER BY occurred_at",
        n=name,
    )


async def _conversation(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    waha: WahaStandIn,
    *,
    wrote_seconds_ago: int,
) -> tuple[str, dict[str, Any], uuid.UUID]:
    """A channel on the stand-in with `csat_on_close` on, a customer's message, the session
    assigned to an agent; returns (channel id, session, agent id)."""
    response = await client.patch(
        "/api/v1/settings",
        json={"csat_on_close": True, "csat_question": QUESTION},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["csat_on_close"] is True
    channel = (await create_channel(client, tenant, base_url=waha.base_url))["id"]
    at = int(time.time()) - wrote_seconds_ago
    await deliver(client, channel, whatsapp_message("Meu óculos chegou?", at))
    await ingest(container, tenant)
    [session] = (await client.get("/api/v1/sessions", headers=tenant.headers)).json()["items"]
    agent = await add_agent(container, tenant, capacity=5)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        stored = await SessionRepository(tx).get(uuid.UUID(session["id"]))
        assert stored is not None
        await assignment.give_to(tx, stored, agent.id, automatic=False)
        await tx.commit()
    return channel, session, agent.id


async def _close(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, session_id: str
) -> None:
    response = await client.post(
        f"/api/v1/sessions/{session_id}/close", json={}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    closed = await _event(container, tenant, uuid.UUID(session_id), "session.closed")
    assert await process_event(container.uow, CSAT, closed) is Outcome.PROCESSED
    assert await process_event(container.uow, CSAT, closed) is Outcome.DUPLICATE


async def _send_question(
    container: Container, tenant: TenantLogin, waha_client: WahaClient, session_id: str
) -> dict[str, Any]:
    [request] = await rows(
        container,
        tenant,
        "SELECT status, message_id, agent_id FROM session_csat_requests WHERE session_id = :s",
        s=uuid.UUID(session_id),
    )
    assert request.status == csat.PENDING
    consumer, _ = sender_consumer(container, waha_client)
    sending = await _event(container, tenant, request.message_id, "message.sending")
    assert await process_event(container.uow, consumer, sending) is Outcome.PROCESSED
    return dict(request._mapping)


async def test_a_rating_reply_becomes_the_closed_sessions_csat_with_the_agent_at_close(
    container: Container,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    channel, session, agent_id = await _conversation(
        client, container, tenant, waha, wrote_seconds_ago=600
    )
    await _close(client, container, tenant, session["id"])
    request = await _send_question(container, tenant, waha_client, session["id"])
    assert request["agent_id"] == agent_id
    [sent] = waha.sends()
    assert sent.path == "/api/sendText"
    assert sent.body is not None
    assert sent.body["text"] == QUESTION
    assert sent.body["chatId"] == "5511976543210@c.us"
    messages = await client.get(
        f"/api/v1/sessions/{session['id']}/messages", headers=tenant.headers
    )
    assert [m["text"] for m in messages.json()["items"]][-1] == QUESTION
    assert messages.json()["items"][-1]["status"] == "sent"

    await deliver(client, channel, whatsapp_message("5", int(time.time())))
    await ingest(container, tenant)

    listed = (await client.get("/api/v1/sessions", headers=tenant.headers)).json()["items"]
    assert [s["id"] for s in listed] == [session["id"]]  # no new session
    got = (await client.get(f"/api/v1/sessions/{session['id']}", headers=tenant.headers)).json()
    assert got["status"] == "closed"
    assert got["csat"] == {"score": 5, "comment": None}
    [recorded] = await _events_named(container, tenant, "session.csat_recorded")
    assert recorded.payload["score"] == 5
    assert recorded.payload["agent_id"] == str(agent_id)
    [request_row] = await rows(
        container,
        tenant,
        "SELECT status, score FROM session_csat_requests WHERE session_id = :s",
        s=uuid.UUID(session["id"]),
    )
    assert (request_row.status, request_row.score) == (csat.ANSWERED, 5)
    messages = await client.get(
        f"/api/v1/sessions/{session['id']}/messages", headers=tenant.headers
    )
    inbound = [m["text"] for m in messages.json()["items"] if m["direction"] == "inbound"]
    assert inbound == ["Meu óculos chegou?", "5"]  # the answer is stored in the rated session

    # A second "5" is an ordinary message now: it opens a new session.
    await deliver(client, channel, whatsapp_message("5", int(time.time())))
    await ingest(container, tenant)
    listed = (await client.get("/api/v1/sessions", headers=tenant.headers)).json()["items"]
    assert len(listed) == 2
    assert len(await _events_named(container, tenant, "session.csat_recorded")) == 1


async def test_an_unrelated_reply_opens_a_new_session_and_records_no_csat(
    container: Container,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    channel, session, _ = await _conversation(
        client, container, tenant, waha, wrote_seconds_ago=600
    )
    await _close(client, container, tenant, session["id"])
    await _send_question(container, tenant, waha_client, session["id"])
    await deliver(
        client, channel, whatsapp_message("Vocês abrem no sábado? 5 horas?", int(time.time()))
    )
    await ingest(container, tenant)
    listed = (await client.get("/api/v1/sessions", headers=tenant.headers)).json()["items"]
    assert len(listed) == 2
    new = next(s for s in listed if s["id"] != session["id"])
    assert new["status"] == "open"
    got = (await client.get(f"/api/v1/sessions/{session['id']}", headers=tenant.headers)).json()
    assert got["csat"] is None
    # While that new session is open, a "4" is part of it, not a rating.
    await deliver(client, channel, whatsapp_message("4", int(time.time())))
    await ingest(container, tenant)
    got = (await client.get(f"/api/v1/sessions/{session['id']}", headers=tenant.headers)).json()
    assert got["csat"] is None
    assert await _events_named(container, tenant, "session.csat_recorded") == []


async def test_outside_the_24h_window_no_question_is_sent_and_the_reason_is_recorded(
    container: Container,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    waha: WahaStandIn,
) -> None:
    _, session, agent_id = await _conversation(
        client, container, tenant, waha, wrote_seconds_ago=25 * 3600
    )
    await _close(client, container, tenant, session["id"])
    [request] = await rows(
        container,
        tenant,
        "SELECT status, reason, message_id, agent_id FROM session_csat_requests"
        " WHERE session_id = :s",
        s=uuid.UUID(session["id"]),
    )
    assert (request.status, request.reason) == (csat.SKIPPED, csat.SKIP_OUTSIDE_WINDOW)
    assert request.message_id is None
    assert request.agent_id == agent_id
    [skipped] = await _events_named(container, tenant, csat.CSAT_SKIPPED)
    assert skipped.payload["reason"] == csat.SKIP_OUTSIDE_WINDOW
    assert await _events_named(container, tenant, "message.sending") == []
    assert waha.sends() == []


async def test_nothing_is_asked_when_the_setting_is_off(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    channel = (await create_channel(client, tenant))["id"]
    await deliver(client, channel, whatsapp_message("Oi", int(time.time()) - 60))
    await ingest(container, tenant)
    [session] = (await client.get("/api/v1/sessions", headers=tenant.headers)).json()["items"]
    await _close(client, container, tenant, session["id"])
    assert await rows(container, tenant, "SELECT 1 FROM session_csat_requests") == []


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        (" 4 ", 4),
        ("3!", 3),
        ("1.", 1),
        ("5 estrelas", 5),
        ("nota 2", 2),
        ("5️⃣", 5),
        ("6", None),
        ("0", None),
        ("55", None),
        ("5 horas", None),
        ("obrigado", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_rating(text: str | None, score: int | None) -> None:
    assert csat.parse_rating(text) == score
