"""The service report's SLA breach rates per agent and per team equal hand-computed ones on
a scripted set of sessions, judged by the service clock's own tick (no Temporal needed:
the tick is what the workflow runs when its timer fires); and which sessions label
policies hold, each target the strictest of the team's and the labels'."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_routing_rules import created
from tests.integration.test_sessions_assignment import add_agent
from ventros.conversations.domain import Session
from ventros.conversations.repository import SessionRepository
from ventros.conversations.service import routing
from ventros.kernel.events import Actor
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration


async def _session(
    container: Container,
    tenant: TenantLogin,
    *,
    agent: uuid.UUID,
    team: str | None,
    minutes_ago: int,
    answered: bool,
) -> uuid.UUID:
    start = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    session = Session.open(
        tenant_id=tenant.tenant_id, contact_id=uuid.uuid4(), channel_id=uuid.uuid4(), at=start
    )
    session.agent_id = agent
    session.team_id = uuid.UUID(team) if team else None
    if answered:
        session.first_response_seconds = 30.0
        session.reply_count = 1
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        assert await SessionRepository(tx).add(session)
        await tx.commit()
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await routing.tick(tx, session.id)
        await tx.commit()
    return session.id


async def test_breach_rates_per_agent_and_team_match_the_hand_computed_ones(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    ana = (await add_agent(container, tenant)).id
    bia = (await add_agent(container, tenant)).id
    t1 = (await created(client, tenant, "/teams", {"name": "Vendas", "members": [str(ana)]}))["id"]
    t2 = (await created(client, tenant, "/teams", {"name": "Suporte", "members": [str(bia)]}))["id"]
    await created(
        client, tenant, "/sla-policies", {"name": "v", "team_id": t1, "first_response_seconds": 600}
    )
    await created(
        client,
        tenant,
        "/sla-policies",
        {"name": "s", "team_id": t2, "first_response_seconds": 600, "resolution_seconds": 3600},
    )
    scripted: list[tuple[uuid.UUID, str | None, int, bool]] = [
        (ana, t1, 60, True),  # answered in time: no breach
        (ana, t1, 60, False),  # no reply after 60 min of a 10 min target: breached
        (ana, t1, 5, False),  # 5 of 10 minutes: nothing yet (not even the 80 % warning)
        (bia, t2, 120, True),  # answered, but open 2 h of a 1 h resolution: breached
        (bia, t2, 30, True),  # answered, 30 of 60 min: nothing
        (bia, None, 120, False),  # no team, no SLA: not counted
    ]
    ids = [
        await _session(container, tenant, agent=a, team=t, minutes_ago=m, answered=r)
        for a, t, m, r in scripted
    ]
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        stored = [await SessionRepository(tx).get(i) for i in ids]
    raised = [s.sla_raised if s else None for s in stored]
    assert raised == [
        [],
        ["first_response.warning", "first_response.breached"],
        [],
        ["resolution.warning", "resolution.breached"],
        [],
        [],
    ]

    async def report(group_by: str) -> dict[str | None, Any]:
        response = await client.get(
            "/api/v1/reports/service", params={"group_by": group_by}, headers=tenant.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return {"overall": body["overall"], **{g["key"]: g for g in body["groups"]}}

    by_agent = await report("agent")
    assert (by_agent[str(ana)]["sla_sessions"], by_agent[str(ana)]["sla_breached"]) == (3, 1)
    assert by_agent[str(ana)]["sla_breach_rate"] == pytest.approx(1 / 3)
    assert (by_agent[str(bia)]["sla_sessions"], by_agent[str(bia)]["sla_breached"]) == (2, 1)
    assert by_agent[str(bia)]["sla_breach_rate"] == pytest.approx(1 / 2)
    assert by_agent["overall"]["sla_breach_rate"] == pytest.approx(2 / 5)
    by_team = await report("team")
    assert by_team[t1]["sla_breach_rate"] == pytest.approx(1 / 3)
    assert by_team[t1]["team_id"] == t1
    assert by_team[t2]["sla_breach_rate"] == pytest.approx(1 / 2)
    assert by_team[None]["sla_sessions"] == 0
    assert by_team[None]["sla_breach_rate"] is None
    # The tick never raises a point twice.
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await routing.tick(tx, ids[1])
        await tx.commit()
    again = await report("agent")
    assert again[str(ana)]["sla_breached"] == 1


async def test_a_schedule_edit_moves_the_deadlines_when_the_clock_next_reads_them(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    all_day = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    hours = await created(
        client, tenant, "/business-hours", {"name": "24/7", "timezone": "UTC", "weekly": all_day}
    )
    team = await created(
        client, tenant, "/teams", {"name": "Plantão", "business_hours_id": hours["id"]}
    )
    await created(
        client,
        tenant,
        "/sla-policies",
        {"name": "1 h", "team_id": team["id"], "first_response_seconds": 3600},
    )
    agent = (await add_agent(container, tenant)).id
    session_id = await _session(
        container, tenant, agent=agent, team=team["id"], minutes_ago=10, answered=False
    )
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        first = await SessionRepository(tx).get(session_id)
    assert first is not None
    assert first.first_response_due_at == first.started_at + timedelta(hours=1)
    # Today becomes a holiday: the ten minutes so far no longer count, the hour starts
    # at tomorrow's opening.
    today = datetime.now(UTC).date()
    response = await client.patch(
        f"/api/v1/business-hours/{hours['id']}",
        json={"holidays": [today.isoformat()]},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await routing.tick(tx, session_id)
        await tx.commit()
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        moved = await SessionRepository(tx).get(session_id)
    assert moved is not None
    tomorrow = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    assert moved.first_response_due_at == tomorrow + timedelta(hours=1)
    assert moved.sla_raised == []


async def test_label_policies_hold_the_labelled_sessions_of_their_team_or_of_any(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    agent = (await add_agent(container, tenant)).id
    vendas = (await created(client, tenant, "/teams", {"name": "Vendas"}))["id"]
    suporte = (await created(client, tenant, "/teams", {"name": "Suporte"}))["id"]
    await created(
        client,
        tenant,
        "/sla-policies",
        {"name": "Vendas", "team_id": vendas, "first_response_seconds": 3600},
    )
    await created(
        client, tenant, "/sla-policies", {"name": "VIP", "label": "VIP", "resolution_seconds": 600}
    )
    await created(
        client,
        tenant,
        "/sla-policies",
        {"name": "urgente", "team_id": suporte, "label": "Urgente", "first_response_seconds": 60},
    )
    vip = (await created(client, tenant, "/labels", {"name": "vip"}))["id"]
    urgent = (await created(client, tenant, "/labels", {"name": "urgente"}))["id"]

    async def labelled(team: str | None, *label_ids: str) -> Session:
        session_id = await _session(
            container, tenant, agent=agent, team=team, minutes_ago=1, answered=False
        )
        for label_id in label_ids:
            response = await client.post(
                f"/api/v1/sessions/{session_id}/labels",
                json={"label_id": label_id},
                headers=tenant.headers,
            )
            assert response.status_code in (200, 201), response.text
        async with container.uow(tenant.tenant_id, Actor.system()) as tx:
            await routing.tick(tx, session_id)  # what the label's wake-up runs
            await tx.commit()
        async with container.uow(tenant.tenant_id, Actor.system()) as tx:
            found = await SessionRepository(tx).get(session_id)
        assert found is not None
        return found

    def due(session: Session) -> tuple[timedelta | None, timedelta | None]:
        first, resolution = session.first_response_due_at, session.resolution_due_at
        return (
            first - session.started_at if first else None,
            resolution - session.started_at if resolution else None,
        )

    hour, ten_minutes, minute = timedelta(hours=1), timedelta(minutes=10), timedelta(minutes=1)
    assert due(await labelled(vendas)) == (hour, None)
    assert due(await labelled(vendas, vip)) == (hour, ten_minutes)
    assert due(await labelled(vendas, urgent)) == (hour, None)  # Suporte's label policy
    assert due(await labelled(suporte, urgent, vip)) == (minute, ten_minutes)
    assert due(await labelled(None, vip)) == (None, ten_minutes)
    assert due(await labelled(None, urgent)) == (None, None)
