"""A token says who the caller was; every request checks who they are now (issue 19, 8):
demotions and deactivations apply to the very next request, a deactivated user's sessions
go back to the queue, and only admins change roles."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_PASSWORD, TenantLogin, login
from tests.integration.test_sessions_assignment import add_agent, assign, open_session
from ventros.conversations.repository import SessionRepository
from ventros.conversations.service.assignment import waiting_sessions
from ventros.identity.domain import Role
from ventros.identity.service import confirm_principal
from ventros.kernel.events import Actor
from ventros.kernel.ids import TenantId, UserId
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def create_user(client: httpx.AsyncClient, admin: TenantLogin, role: str) -> dict[str, Any]:
    body = {
        "email": f"{role}-{uuid.uuid4().hex[:10]}@example.com",
        "name": role.title(),
        "password": TEST_PASSWORD,
        "role": role,
    }
    response = await client.post("/api/v1/agents", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def bearer(client: httpx.AsyncClient, user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {await login(client, user['email'])}"}


async def test_a_demotion_applies_to_the_very_next_request_with_the_same_token(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    supervisor = await create_user(client, tenant, "supervisor")
    headers = await bearer(client, supervisor)
    assert (await client.get("/api/v1/reports/service", headers=headers)).status_code == 200
    demoted = await client.patch(
        f"/api/v1/agents/{supervisor['id']}", json={"role": "agent"}, headers=tenant.headers
    )
    assert demoted.status_code == 200, demoted.text
    assert (await client.get("/api/v1/reports/service", headers=headers)).status_code == 403
    me = await client.get("/api/v1/me", headers=headers)
    assert me.json()["role"] == "agent"


async def test_a_deactivated_user_is_refused_at_once_and_cannot_log_in_until_reactivated(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    agent = await create_user(client, tenant, "agent")
    headers = await bearer(client, agent)
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    response = await client.post(f"/api/v1/agents/{agent['id']}/deactivate", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False
    for path in ("/api/v1/me", "/api/v1/contacts"):
        refused = await client.get(path, headers=headers)
        assert refused.status_code == 401, refused.text
        assert "deactivated" in refused.json()["detail"]
    # An Idempotency-Key replay is refused too, not served from a kept response.
    sent = await client.post(
        "/api/v1/contacts",
        json={"name": "Ana"},
        headers={**headers, "Idempotency-Key": "k-1"},
    )
    assert sent.status_code == 401
    again = await client.post(
        "/api/v1/auth/login", json={"email": agent["email"], "password": TEST_PASSWORD}
    )
    assert again.status_code == 401
    assert "deactivated" in again.json()["detail"]
    events = await client.get(
        "/api/v1/events", params={"name": "agent.deactivated"}, headers=tenant.headers
    )
    assert [e["aggregate_id"] for e in events.json()["items"]] == [agent["id"]]

    back = await client.post(f"/api/v1/agents/{agent['id']}/reactivate", headers=tenant.headers)
    assert back.status_code == 200
    assert back.json()["active"] is True
    assert (await client.get("/api/v1/me", headers=await bearer(client, agent))).status_code == 200


async def test_a_deactivated_agents_open_sessions_go_back_to_the_waiting_queue(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin
) -> None:
    agent = await add_agent(container, tenant, capacity=2)
    sessions = [await open_session(container, tenant, age=age) for age in (20, 10)]
    for session in sessions:
        assert (await assign(container, tenant, session.id)).agent_id == agent.id
    response = await client.post(f"/api/v1/agents/{agent.id}/deactivate", headers=tenant.headers)
    assert response.status_code == 200, response.text
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        stored = [await SessionRepository(tx).get(s.id) for s in sessions]
        queue = await waiting_sessions(tx)
    assert [s.agent_id for s in stored if s is not None] == [None, None]
    assert queue == [s.id for s in sessions]  # in arrival order
    # Nobody assigns the deactivated agent anything again.
    assert (await assign(container, tenant, sessions[0].id)).agent_id is None


async def test_only_admins_change_roles_or_deactivate(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    supervisor = await create_user(client, tenant, "supervisor")
    agent = await create_user(client, tenant, "agent")
    headers = await bearer(client, supervisor)
    promote = await client.patch(
        f"/api/v1/agents/{agent['id']}", json={"role": "supervisor"}, headers=headers
    )
    assert promote.status_code == 403, promote.text
    same_role = await client.patch(
        f"/api/v1/agents/{agent['id']}", json={"role": "agent", "name": "Bia"}, headers=headers
    )
    assert same_role.status_code == 200, same_role.text  # other fields stay theirs
    for action in ("deactivate", "reactivate"):
        answer = await client.post(f"/api/v1/agents/{agent['id']}/{action}", headers=headers)
        assert answer.status_code == 403, answer.text
    own = await client.post(f"/api/v1/agents/{tenant.admin_id}/deactivate", headers=tenant.headers)
    assert own.status_code == 422


async def test_reading_the_callers_standing_is_a_fast_primary_key_read(
    container: Container, tenant: TenantLogin
) -> None:
    from ventros.identity.domain import Principal

    claimed = Principal(UserId(tenant.admin_id), TenantId(tenant.tenant_id), Role.ADMIN, "")
    await confirm_principal(container.uow, claimed)  # warm the pool
    rounds = 50
    began = time.perf_counter()
    for _ in range(rounds):
        assert (await confirm_principal(container.uow, claimed)).role is Role.ADMIN
    per_request = (time.perf_counter() - began) / rounds
    # A generous bound on a shared machine; the point is one round trip, not a scan.
    assert per_request < 0.05, per_request
