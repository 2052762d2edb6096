"""Who may write into a session (issue 19, items 1, 2, 4): agents their own sessions or
unassigned ones (which they then take), supervisors and admins any — for every write path;
only users who can send take sessions; only a closed session is rated."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_sessions_assignment import (
    _user_login,
    add_agent,
    assign,
    open_session,
)
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest
from ventros.identity.domain import Role
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def customer_session(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> tuple[str, str]:
    """(contact id, open session id) of a customer who just wrote."""
    channel = await create_channel(client, tenant)
    text = fixture("message.text.json")
    text["payload"]["timestamp"] = int(time.time())
    await deliver(client, channel["id"], text)
    await ingest(container, tenant)
    contact_id = (await client.get("/api/v1/contacts", headers=tenant.headers)).json()["items"][0][
        "id"
    ]
    sessions = await client.get(
        "/api/v1/sessions", params={"contact_id": contact_id}, headers=tenant.headers
    )
    return contact_id, sessions.json()["items"][0]["id"]


def text_to(contact_id: str) -> dict[str, str]:
    return {"contact_id": contact_id, "type": "text", "text": "Olá!"}


async def test_an_agent_cannot_send_or_schedule_into_another_agents_session(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    alice, alice_h = await _user_login(client, tenant, "agent")
    _, bob_h = await _user_login(client, tenant, "agent")
    _, boss_h = await _user_login(client, tenant, "supervisor")
    contact_id, session_id = await customer_session(client, container, tenant)
    response = await client.post(
        f"/api/v1/sessions/{session_id}/assign", json={"agent_id": alice}, headers=boss_h
    )
    assert response.status_code == 200, response.text

    refused = await client.post("/api/v1/messages/send", json=text_to(contact_id), headers=bob_h)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    refused = await client.post(
        "/api/v1/messages/schedule", json={**text_to(contact_id), "send_at": send_at}, headers=bob_h
    )
    assert refused.status_code == 403, refused.text

    for allowed in (alice_h, boss_h, tenant.headers):
        sent = await client.post("/api/v1/messages/send", json=text_to(contact_id), headers=allowed)
        assert sent.status_code == 202, sent.text
    session = await client.get(f"/api/v1/sessions/{session_id}", headers=tenant.headers)
    assert session.json()["agent_id"] == alice


async def test_an_agent_who_sends_into_an_unassigned_session_takes_it(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    bob, bob_h = await _user_login(client, tenant, "agent")
    _, carol_h = await _user_login(client, tenant, "agent")
    contact_id, session_id = await customer_session(client, container, tenant)
    sent = await client.post("/api/v1/messages/send", json=text_to(contact_id), headers=bob_h)
    assert sent.status_code == 202, sent.text
    session = await client.get(f"/api/v1/sessions/{session_id}", headers=tenant.headers)
    assert session.json()["agent_id"] == bob
    refused = await client.post("/api/v1/messages/send", json=text_to(contact_id), headers=carol_h)
    assert refused.status_code == 403


async def test_an_agent_may_close_an_unassigned_session_taking_it(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    bob, bob_h = await _user_login(client, tenant, "agent")
    session = await open_session(container, tenant)
    closed = await client.post(f"/api/v1/sessions/{session.id}/close", json={}, headers=bob_h)
    assert closed.status_code == 200, closed.text
    assert closed.json()["agent_id"] == bob
    assert closed.json()["status"] == "closed"


async def test_a_session_cannot_be_assigned_or_transferred_to_a_viewer(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    viewer, _ = await _user_login(client, tenant, "viewer")
    alice, _ = await _user_login(client, tenant, "agent")
    session = await open_session(container, tenant)
    url = f"/api/v1/sessions/{session.id}"
    refused = await client.post(f"{url}/assign", json={"agent_id": viewer}, headers=tenant.headers)
    assert refused.status_code == 422, refused.text
    assert "viewer" in refused.json()["detail"]
    assert refused.json()["detail"].endswith(".")
    assert (
        await client.post(f"{url}/assign", json={"agent_id": alice}, headers=tenant.headers)
    ).status_code == 200
    refused = await client.post(
        f"{url}/transfer", json={"to_agent_id": viewer}, headers=tenant.headers
    )
    assert refused.status_code == 422, refused.text
    current = await client.get(url, headers=tenant.headers)
    assert current.json()["agent_id"] == alice


async def test_automatic_assignment_never_picks_a_viewer(
    container: Container, tenant: TenantLogin
) -> None:
    await add_agent(container, tenant, role=Role.VIEWER, capacity=5, available=True)
    session = await open_session(container, tenant)
    result = await assign(container, tenant, session.id)
    assert result.agent_id is None
    assert result.queued
    agent = await add_agent(container, tenant, capacity=5, available=True)
    assert (await assign(container, tenant, session.id)).agent_id == agent.id


async def test_csat_on_an_open_session_is_409_and_accepted_once_closed(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    session = await open_session(container, tenant)
    url = f"/api/v1/sessions/{session.id}"
    refused = await client.post(f"{url}/csat", json={"score": 5}, headers=tenant.headers)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "closed" in refused.json()["detail"]
    assert (await client.post(f"{url}/close", json={}, headers=tenant.headers)).status_code == 200
    rated = await client.post(f"{url}/csat", json={"score": 5}, headers=tenant.headers)
    assert rated.status_code == 200, rated.text
    assert rated.json()["csat"]["score"] == 5
