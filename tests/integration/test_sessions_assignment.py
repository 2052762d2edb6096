"""AssignAgentToSession against real PostgreSQL: capacity under concurrency, fairness,
skills, the waiting queue; and the session actions' RBAC and CSAT rules over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest

from tests.conftest import TEST_PASSWORD, TenantLogin, login
from ventros.agents import repository as agents
from ventros.agents.domain import change_status
from ventros.conversations.domain import Session
from ventros.conversations.repository import SessionRepository
from ventros.conversations.service import assignment
from ventros.identity.domain import AgentStatus, Role, User
from ventros.identity.repository import UserRepository
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def add_agent(
    container: Container,
    tenant: TenantLogin,
    *,
    capacity: int = 1,
    skills: tuple[str, ...] = (),
    role: Role = Role.AGENT,
    available: bool = True,
) -> User:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        user = User.register(
            tenant_id=tenant.tenant_id,
            email=f"agent-{uuid.uuid4().hex[:10]}@example.com",
            name="Agent",
            role=role,
            password_hash="x",
            max_concurrent_sessions=capacity,
            skills=list(skills),
        )
        if available:
            change_status(user, AgentStatus.AVAILABLE)
        await UserRepository(tx).add(user)
        await tx.commit()
    return user


async def open_session(container: Container, tenant: TenantLogin, *, age: float = 0) -> Session:
    at = utcnow() - timedelta(seconds=age)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        session = Session.open(
            tenant_id=tenant.tenant_id, contact_id=uuid.uuid4(), channel_id=uuid.uuid4(), at=at
        )
        assert await SessionRepository(tx).add(session)
        await tx.commit()
    return session


async def assign(
    container: Container,
    tenant: TenantLogin,
    session_id: uuid.UUID,
    skills: list[str] | None = None,
) -> assignment.AssignmentResult:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        result = await assignment.assign_agent_to_session(tx, session_id, required_skills=skills)
        await tx.commit()
    return result


async def loads(container: Container, tenant: TenantLogin, ids: list[uuid.UUID]) -> dict:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        return await assignment.open_loads(tx, ids)


async def test_twenty_concurrent_assigners_give_a_capacity_one_agent_exactly_one_session(
    container: Container, tenant: TenantLogin
) -> None:
    agent = await add_agent(container, tenant, capacity=1)
    sessions = [await open_session(container, tenant) for _ in range(20)]
    results = await asyncio.gather(*(assign(container, tenant, s.id) for s in sessions))
    assert sum(r.agent_id == agent.id for r in results) == 1
    assert sum(r.queued for r in results) == 19
    assert (await loads(container, tenant, [agent.id]))[agent.id] == 1


async def test_many_concurrent_sessions_never_put_any_agent_over_capacity(
    container: Container, tenant: TenantLogin
) -> None:
    team = [await add_agent(container, tenant, capacity=3) for _ in range(4)]
    sessions = [await open_session(container, tenant) for _ in range(40)]
    results = await asyncio.gather(*(assign(container, tenant, s.id) for s in sessions))
    assert sum(r.agent_id is not None for r in results) == 12
    counted = await loads(container, tenant, [a.id for a in team])
    assert counted == {a.id: 3 for a in team}


async def test_the_least_loaded_agent_gets_the_session_then_the_one_idle_longest(
    container: Container, tenant: TenantLogin
) -> None:
    busy = await add_agent(container, tenant, capacity=5)
    idle_long = await add_agent(container, tenant, capacity=5)
    idle_short = await add_agent(container, tenant, capacity=5)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await agents.record_assignment(tx, idle_long.id, utcnow() - timedelta(hours=2))
        await agents.record_assignment(tx, idle_short.id, utcnow() - timedelta(minutes=1))
        await tx.commit()
    first = await open_session(container, tenant)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        session = await SessionRepository(tx).get(first.id)
        assert session is not None
        await assignment.give_to(tx, session, busy.id, automatic=False)
        await tx.commit()
    # busy has 1, the others 0: of those, the one idle longest.
    assert (
        await assign(container, tenant, (await open_session(container, tenant)).id)
    ).agent_id == idle_long.id
    # now busy 1, idle_long 1, idle_short 0.
    assert (
        await assign(container, tenant, (await open_session(container, tenant)).id)
    ).agent_id == idle_short.id
    # all at 1: busy's last assignment is the oldest.
    assert (
        await assign(container, tenant, (await open_session(container, tenant)).id)
    ).agent_id == busy.id


async def test_a_session_needing_a_skill_goes_only_to_agents_with_it(
    container: Container, tenant: TenantLogin
) -> None:
    await add_agent(container, tenant, capacity=5)
    spanish = await add_agent(container, tenant, capacity=5, skills=("es",))
    for _ in range(3):
        session = await open_session(container, tenant)
        assert (await assign(container, tenant, session.id, ["es"])).agent_id == spanish.id


async def test_the_queue_drains_oldest_first_when_an_agent_becomes_available(
    container: Container, tenant: TenantLogin
) -> None:
    agent = await add_agent(container, tenant, capacity=2, available=False)
    older = await open_session(container, tenant, age=30)
    newest = await open_session(container, tenant, age=1)
    middle = await open_session(container, tenant, age=10)
    for session in (newest, older, middle):
        assert (await assign(container, tenant, session.id)).queued
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        assert await assignment.waiting_sessions(tx) == [older.id, middle.id, newest.id]
        user = await UserRepository(tx).get(agent.id)
        assert user is not None
        change_status(user, AgentStatus.AVAILABLE)
        await UserRepository(tx).save(user)
        await tx.commit()
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        assert await assignment.drain_queue(tx) == 2
        await tx.commit()
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        repo = SessionRepository(tx)
        assert [(await repo.get(s.id)).agent_id for s in (older, middle, newest)] == [  # type: ignore[union-attr]
            agent.id,
            agent.id,
            None,
        ]
        assert await assignment.waiting_sessions(tx) == [newest.id]


# ------------------------------------------------------------------------------- over HTTP


async def _user_login(
    client: httpx.AsyncClient, tenant: TenantLogin, role: str
) -> tuple[str, dict[str, str]]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/v1/agents",
        json={
            "email": email,
            "name": role,
            "password": TEST_PASSWORD,
            "role": role,
            "max_concurrent_sessions": 5,
        },
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    token = await login(client, email)
    return response.json()["id"], {"Authorization": f"Bearer {token}"}


async def test_agents_act_only_on_their_own_sessions_and_viewers_not_at_all(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    alice, alice_h = await _user_login(client, tenant, "agent")
    bob, bob_h = await _user_login(client, tenant, "agent")
    _, boss_h = await _user_login(client, tenant, "supervisor")
    _, viewer_h = await _user_login(client, tenant, "viewer")
    session = await open_session(container, tenant)
    url = f"/api/v1/sessions/{session.id}"

    response = await client.post(f"{url}/assign", json={"agent_id": alice}, headers=boss_h)
    assert response.status_code == 200, response.text
    assert response.json()["agent_id"] == alice

    assert (
        await client.post(f"{url}/transfer", json={"to_agent_id": bob}, headers=bob_h)
    ).status_code == 403
    assert (await client.post(f"{url}/close", json={}, headers=bob_h)).status_code == 403
    assert (await client.post(f"{url}/close", json={}, headers=viewer_h)).status_code == 403
    response = await client.post(
        f"{url}/transfer", json={"to_agent_id": bob, "note": "speaks Spanish"}, headers=alice_h
    )
    assert response.status_code == 200, response.text
    assert response.json()["agent_id"] == bob
    # A supervisor may transfer anyone's session.
    response = await client.post(f"{url}/transfer", json={"to_agent_id": alice}, headers=boss_h)
    assert response.status_code == 200, response.text

    response = await client.post(f"{url}/close", json={"reason": "resolved"}, headers=alice_h)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "closed"
    assert response.json()["close_reason"] == "resolved"

    # Only a closed session is rated (issue 19).
    response = await client.post(f"{url}/csat", json={"score": 5}, headers=alice_h)
    assert response.status_code == 200, response.text
    assert response.json()["csat"] == {"score": 5, "comment": None}
    assert (await client.post(f"{url}/csat", json={"score": 4}, headers=alice_h)).status_code == 409
    assert (await client.post(f"{url}/csat", json={"score": 6}, headers=alice_h)).status_code == 422


async def test_assigning_over_capacity_is_409_unless_a_supervisor_forces_it(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    full = await add_agent(container, tenant, capacity=1)
    taken = await open_session(container, tenant)
    assert (await assign(container, tenant, taken.id)).agent_id == full.id
    session = await open_session(container, tenant)
    url = f"/api/v1/sessions/{session.id}/assign"
    response = await client.post(url, json={"agent_id": str(full.id)}, headers=tenant.headers)
    assert response.status_code == 409
    assert response.json()["existing_id"] == str(full.id)
    response = await client.post(
        url, json={"agent_id": str(full.id), "force": True}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


async def test_agent_status_and_load_over_http(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    me, my_h = await _user_login(client, tenant, "agent")
    other, _ = await _user_login(client, tenant, "agent")
    response = await client.put(
        f"/api/v1/agents/{me}/status", json={"status": "available"}, headers=my_h
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "available"
    assert response.json()["current_load"] == 0
    assert (
        await client.put(f"/api/v1/agents/{other}/status", json={"status": "busy"}, headers=my_h)
    ).status_code == 403
    response = await client.patch(
        f"/api/v1/agents/{me}",
        json={"skills": ["ES", "billing"], "max_concurrent_sessions": 7},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["skills"] == ["billing", "es"]
    assert (
        await client.patch(f"/api/v1/agents/{me}", json={"name": "x"}, headers=my_h)
    ).status_code == 403
