"""Teams and routing rules through the API: the first message decides the team by the
tenant's ordered rules (accents folded), assignment stays within the team, an agent taken
off a team keeps their sessions and gets no new ones, the team's queue; bad rules are 422
naming the field."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import TenantLogin
from tests.integration.test_service_metrics import whatsapp_message
from tests.integration.test_sessions_assignment import add_agent
from tests.integration.waha_kit import create_channel, deliver, ingest
from ventros.conversations.handlers.lifecycle import ASSIGN, DRAIN
from ventros.conversations.service import assignment, routing
from ventros.kernel.events import Actor
from ventros.platform.consumers import Outcome, process_event
from ventros.platform.outbox import domain_events
from ventros.runtime.container import Container
from ventros.webhooks.repository import load_event

pytestmark = pytest.mark.integration


async def api(
    client: httpx.AsyncClient, tenant: TenantLogin, method: str, path: str, body: Any = None
) -> httpx.Response:
    return await client.request(method, f"/api/v1{path}", json=body, headers=tenant.headers)


async def created(client: httpx.AsyncClient, tenant: TenantLogin, path: str, body: Any) -> Any:
    response = await api(client, tenant, "POST", path, body)
    assert response.status_code == 201, response.text
    return response.json()


async def customer_writes(
    client: httpx.AsyncClient,
    container: Container,
    tenant: TenantLogin,
    channel: str,
    phone: str,
    text: str,
) -> str:
    """The customer's first message opens a session; routing and assignment run on its
    `session.started` (the consumer, as the worker runs it). The session's id."""
    chat = f"{phone}@c.us"
    await deliver(client, channel, whatsapp_message(text, int(time.time()), chat=chat))
    await ingest(container, tenant)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        ids = list(
            (
                await tx.connection.execute(
                    select(domain_events.c.id)
                    .where(domain_events.c.name == "session.started")
                    .order_by(domain_events.c.occurred_at)
                )
            ).scalars()
        )
        events = [await load_event(tx, i) for i in ids]
    started = [e for e in events if e is not None]
    outcomes = [await process_event(container.uow, ASSIGN, e) for e in started]
    assert Outcome.PROCESSED in outcomes
    newest = started[-1]
    return str(newest.payload["session_id"])


async def session(client: httpx.AsyncClient, tenant: TenantLogin, session_id: str) -> Any:
    response = await api(client, tenant, "GET", f"/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_rules_send_prices_to_sales_and_breakages_to_support_within_each_team(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    response = await api(client, tenant, "PATCH", "/settings", {"auto_assign": True})
    assert response.status_code == 200, response.text
    seller = await add_agent(container, tenant, capacity=5)
    fixer = await add_agent(container, tenant, capacity=5)
    await add_agent(container, tenant, capacity=5)  # in no team: never gets a routed session
    vendas = await created(
        client, tenant, "/teams", {"name": "Vendas", "members": [str(seller.id)]}
    )
    suporte = await created(
        client, tenant, "/teams", {"name": "Suporte", "members": [str(fixer.id)]}
    )
    await created(
        client,
        tenant,
        "/routing-rules",
        {
            "name": "Preços",
            "team_id": vendas["id"],
            "conditions": {"keywords": ["preco", "orçamento"]},
        },
    )
    await created(
        client,
        tenant,
        "/routing-rules",
        {
            "name": "Consertos",
            "team_id": suporte["id"],
            "conditions": {"pattern": r"quebr(ou|ada)"},
        },
    )
    rules = (await api(client, tenant, "GET", "/routing-rules")).json()
    assert [r["name"] for r in rules] == ["Preços", "Consertos"]
    assert [r["position"] for r in rules] == [0, 1]
    channel = (await create_channel(client, tenant))["id"]

    price = await customer_writes(
        client, container, tenant, channel, "5511976540101", "Quero saber o preço das lentes"
    )
    broken = await customer_writes(
        client, container, tenant, channel, "5511976540102", "minha armação quebrou"
    )
    assert (await session(client, tenant, price))["team_id"] == vendas["id"]
    assert (await session(client, tenant, price))["agent_id"] == str(seller.id)
    assert (await session(client, tenant, broken))["team_id"] == suporte["id"]
    assert (await session(client, tenant, broken))["agent_id"] == str(fixer.id)
    listed = (await api(client, tenant, "GET", f"/sessions?team_id={suporte['id']}")).json()
    assert [s["id"] for s in listed["items"]] == [broken]

    # The seller leaves Vendas: they keep the session they hold, the next one waits.
    response = await api(client, tenant, "PATCH", f"/teams/{vendas['id']}", {"members": []})
    assert response.status_code == 200, response.text
    assert response.json()["members"] == []
    waiting = await customer_writes(
        client, container, tenant, channel, "5511976540103", "qual o PRECO do óculos?"
    )
    assert (await session(client, tenant, price))["agent_id"] == str(seller.id)
    assert (await session(client, tenant, waiting))["agent_id"] is None
    queue = (await api(client, tenant, "GET", f"/teams/{vendas['id']}/queue")).json()
    assert [s["id"] for s in queue] == [waiting]
    assert (await api(client, tenant, "GET", f"/teams/{suporte['id']}/queue")).json() == []

    # A message no rule matches goes to the common queue: anyone may take it.
    other = await customer_writes(client, container, tenant, channel, "5511976540104", "bom dia")
    assert (await session(client, tenant, other))["team_id"] is None
    assert (await session(client, tenant, other))["agent_id"] is not None


async def test_rule_order_can_change_and_the_first_match_wins(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    a = await created(client, tenant, "/teams", {"name": "A"})
    b = await created(client, tenant, "/teams", {"name": "B"})
    first = await created(
        client,
        tenant,
        "/routing-rules",
        {"name": "a", "team_id": a["id"], "conditions": {"keywords": ["oi"]}},
    )
    second = await created(
        client, tenant, "/routing-rules", {"name": "b", "team_id": b["id"], "position": 0}
    )
    assert [r["id"] for r in (await api(client, tenant, "GET", "/routing-rules")).json()] == [
        second["id"],
        first["id"],
    ]
    channel = (await create_channel(client, tenant))["id"]
    s1 = await customer_writes(client, container, tenant, channel, "5511976540201", "oi")
    assert (await session(client, tenant, s1))["team_id"] == b["id"]
    response = await api(
        client, tenant, "PUT", "/routing-rules/order", {"ids": [first["id"], second["id"]]}
    )
    assert response.status_code == 200, response.text
    s2 = await customer_writes(client, container, tenant, channel, "5511976540202", "Oi!")
    assert (await session(client, tenant, s2))["team_id"] == a["id"]
    response = await api(client, tenant, "PUT", "/routing-rules/order", {"ids": [first["id"]]})
    assert response.status_code == 422


async def test_bad_rules_teams_and_hours_are_422_naming_the_field(
    client: httpx.AsyncClient, tenant: TenantLogin, other_tenant: TenantLogin
) -> None:
    team = await created(client, tenant, "/teams", {"name": "Vendas"})
    cases = [
        ("/routing-rules", {"name": "x", "team_id": str(uuid.uuid4())}, "team_id"),
        (
            "/routing-rules",
            {"name": "x", "team_id": team["id"], "conditions": {"pattern": "(preço"}},
            "conditions.pattern",
        ),
        ("/teams", {"name": "x", "members": [str(uuid.uuid4())]}, "members"),
        ("/teams", {"name": "x", "business_hours_id": str(uuid.uuid4())}, "business_hours_id"),
        (
            "/business-hours",
            {"name": "x", "weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}},
            "weekly.mon",
        ),
        ("/business-hours", {"name": "x", "weekly": {}, "timezone": "Nowhere/City"}, "timezone"),
        (
            "/sla-policies",
            {"name": "x", "team_id": str(uuid.uuid4()), "first_response_seconds": 60},
            "team_id",
        ),
    ]
    for path, body, field in cases:
        response = await api(client, tenant, "POST", path, body)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert ["body", field] in [e["loc"] for e in response.json()["errors"]], response.text
    # A holiday on a day without hours is fine; another tenant's team is not found.
    ok = await api(
        client,
        tenant,
        "POST",
        "/business-hours",
        {"name": "ok", "weekly": {"mon": [["09:00", "18:00"]]}, "holidays": ["2026-12-27"]},
    )
    assert ok.status_code == 201, ok.text
    assert (await api(client, other_tenant, "GET", f"/teams/{team['id']}")).status_code == 404
    assert (await api(client, other_tenant, "GET", f"/teams/{team['id']}/queue")).status_code == 404


async def test_agents_read_teams_but_only_supervisors_change_routing(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    from tests.integration.test_sessions_assignment import _user_login

    _, agent = await _user_login(client, tenant, "agent")
    _, supervisor = await _user_login(client, tenant, "supervisor")
    team = {"name": "Vendas"}
    refused = await client.post("/api/v1/teams", json=team, headers=agent)
    assert refused.status_code == 403
    made = await client.post("/api/v1/teams", json=team, headers=supervisor)
    assert made.status_code == 201, made.text
    listed = await client.get("/api/v1/teams", headers=agent)
    assert [t["name"] for t in listed.json()] == ["Vendas"]
    follow_up = {"nudge_after_seconds": 600, "nudge_text": "Oi?", "close_after_seconds": 3600}
    put = await client.put(
        "/api/v1/routing-settings", json={"follow_up": follow_up}, headers=supervisor
    )
    assert put.status_code == 200, put.text
    read = await client.get("/api/v1/routing-settings", headers=agent)
    assert read.json() == {"follow_up": follow_up}
    bad = await client.put(
        "/api/v1/routing-settings",
        json={"follow_up": {**follow_up, "nudge_after_seconds": 0}},
        headers=supervisor,
    )
    assert bad.status_code == 422
    gone = await client.delete(f"/api/v1/teams/{made.json()['id']}", headers=supervisor)
    assert gone.status_code == 204
    assert (
        await client.get(f"/api/v1/teams/{made.json()['id']}", headers=agent)
    ).status_code == 404


async def test_an_agent_taken_off_a_team_keeps_its_sessions_and_the_queue_passes_them_by(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    response = await api(client, tenant, "PATCH", "/settings", {"auto_assign": True})
    assert response.status_code == 200, response.text
    seller = await add_agent(container, tenant, capacity=1)
    newcomer = await add_agent(container, tenant, capacity=5)  # available, in no team yet
    vendas = await created(
        client, tenant, "/teams", {"name": "Vendas", "members": [str(seller.id)]}
    )
    await created(client, tenant, "/routing-rules", {"name": "all", "team_id": vendas["id"]})
    channel = (await create_channel(client, tenant))["id"]
    held = await customer_writes(client, container, tenant, channel, "5511976540201", "oi")
    assert (await session(client, tenant, held))["agent_id"] == str(seller.id)

    response = await api(client, tenant, "PATCH", f"/teams/{vendas['id']}", {"members": []})
    assert response.status_code == 200, response.text
    waiting = await customer_writes(client, container, tenant, channel, "5511976540202", "olá")
    # The service clock's look at the held session leaves it with the seller.
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await routing.tick(tx, uuid.UUID(held))
        await tx.commit()
    assert (await session(client, tenant, held))["agent_id"] == str(seller.id)
    assert (await session(client, tenant, waiting))["agent_id"] is None

    # The seller closes the session they kept: they have room again, but the queue they
    # would serve is no longer theirs.
    closed = await api(client, tenant, "POST", f"/sessions/{held}/close")
    assert closed.status_code == 200, closed.text
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        [event_id] = (
            await tx.connection.execute(
                select(domain_events.c.id).where(
                    domain_events.c.name == "session.closed",
                    domain_events.c.aggregate_id == uuid.UUID(held),
                )
            )
        ).scalars()
        event = await load_event(tx, event_id)
    assert event is not None
    assert await process_event(container.uow, DRAIN, event) is Outcome.PROCESSED
    assert (await session(client, tenant, waiting))["agent_id"] is None
    queue = (await api(client, tenant, "GET", f"/teams/{vendas['id']}/queue")).json()
    assert [s["id"] for s in queue] == [waiting]

    # The newcomer joins the team: the next drain gives it to them.
    response = await api(
        client, tenant, "PATCH", f"/teams/{vendas['id']}", {"members": [str(newcomer.id)]}
    )
    assert response.status_code == 200, response.text
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        assert await assignment.drain_queue(tx) == 1
        await tx.commit()
    assert (await session(client, tenant, waiting))["agent_id"] == str(newcomer.id)
