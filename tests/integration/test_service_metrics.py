"""Service metrics on a scripted WhatsApp conversation, against hand-computed values:
first response (from the FIRST of two customer messages before the reply), average reply
time (bots do not end a wait), resolution time; on the session (GET /sessions/{id}) and in
GET /reports/service, per agent and overall."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import TenantLogin
from tests.integration.test_sessions_assignment import add_agent
from tests.integration.waha_kit import create_channel, deliver, fixture, ingest
from ventros.conversations.repository import SessionRepository
from ventros.conversations.service import assignment
from ventros.kernel.events import Actor
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

CUSTOMER = "5511976543210@c.us"


def whatsapp_message(
    text: str, at: int, *, from_me: bool = False, source: str = "app", chat: str = CUSTOMER
) -> dict[str, Any]:
    """A WAHA `message.any` envelope: the customer's (from_me False), or the business's from
    the phone (`source` "app": a person) or through the API (`source` "api": a bot)."""
    envelope = fixture("message.text.json")
    envelope["event"] = "message.any"
    envelope["id"] = f"evt_{uuid.uuid4().hex}"
    payload = envelope["payload"]
    key = uuid.uuid4().hex.upper()
    payload["id"] = f"{'true' if from_me else 'false'}_{chat}_{key}"
    payload["from"] = chat
    payload["fromMe"] = from_me
    payload["source"] = source
    payload["body"] = text
    payload["timestamp"] = at
    payload["_data"]["key"]["id"] = key
    payload["_data"]["key"]["fromMe"] = from_me
    payload["_data"]["key"]["remoteJid"] = chat.replace("@c.us", "@s.whatsapp.net")
    payload["_data"]["messageTimestamp"] = at
    payload["_data"]["message"] = {"conversation": text}
    return envelope


async def say(
    client: httpx.AsyncClient, container: Container, tenant: TenantLogin, channel: str, *items: Any
) -> None:
    await deliver(client, channel, *items)
    await ingest(container, tenant)


async def the_session(client: httpx.AsyncClient, tenant: TenantLogin) -> dict[str, Any]:
    response = await client.get("/api/v1/sessions", headers=tenant.headers)
    assert response.status_code == 200, response.text
    [listed] = response.json()["items"]
    response = await client.get(f"/api/v1/sessions/{listed['id']}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_metrics_of_a_scripted_conversation_match_the_hand_computed_values(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    channel = (await create_channel(client, tenant))["id"]
    agent = await add_agent(container, tenant, capacity=5)
    t0 = int(time.time()) - 3600
    # The customer writes twice before anyone answers: the wait counts from the FIRST.
    await say(client, container, tenant, channel, whatsapp_message("Oi", t0))
    await say(client, container, tenant, channel, whatsapp_message("Alguém aí?", t0 + 30))
    session = await the_session(client, tenant)
    assert session["first_response_seconds"] is None
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        stored = await SessionRepository(tx).get(uuid.UUID(session["id"]))
        assert stored is not None
        await assignment.give_to(tx, stored, agent.id, automatic=False)
        await tx.commit()
    script = [
        whatsapp_message("Olá! Em que posso ajudar?", t0 + 90, from_me=True),  # wait 90
        whatsapp_message("Quero um óculos", t0 + 200),
        whatsapp_message("Temos sim", t0 + 260, from_me=True),  # wait 60
        whatsapp_message("Qual o preço?", t0 + 400),
        # An automatic message through the API does not end the customer's wait...
        whatsapp_message("Recebemos sua mensagem", t0 + 410, from_me=True, source="api"),
        whatsapp_message("E a entrega?", t0 + 450),
        whatsapp_message("R$ 300, entrega amanhã", t0 + 500, from_me=True),  # ...wait 100
        whatsapp_message("Mais alguma coisa?", t0 + 520, from_me=True),  # nobody waiting
    ]
    await say(client, container, tenant, channel, *script)

    session = await the_session(client, tenant)
    assert session["first_response_seconds"] == 90.0
    assert session["reply_count"] == 3
    assert session["average_reply_seconds"] == pytest.approx((90 + 60 + 100) / 3)
    assert session["resolution_seconds"] is None

    response = await client.post(
        f"/api/v1/sessions/{session['id']}/close", json={}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    session = await the_session(client, tenant)
    closed_at = datetime.fromisoformat(session["closed_at"])
    started_at = datetime.fromisoformat(session["started_at"])
    assert started_at == datetime.fromtimestamp(t0, UTC)
    assert session["resolution_seconds"] == pytest.approx(
        (closed_at - started_at).total_seconds(), abs=1e-3
    )
    assert 3600 <= session["resolution_seconds"] < 3600 + 120

    # The report, for a window holding this session: per agent and overall, in SQL.
    since = (started_at - timedelta(minutes=1)).isoformat()
    until = (closed_at + timedelta(minutes=1)).isoformat()
    response = await client.get(
        "/api/v1/reports/service",
        params={"from": since, "to": until},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["group_by"] == "agent"
    [group] = report["groups"]
    assert group["agent_id"] == str(agent.id)
    for figures in (group, report["overall"]):
        assert figures["sessions"] == 1
        assert figures["closed_sessions"] == 1
        assert figures["median_first_response_seconds"] == 90.0
        assert figures["p90_first_response_seconds"] == 90.0
        assert figures["average_reply_seconds"] == pytest.approx(250 / 3)
        assert figures["replies"] == 3
        assert figures["median_resolution_seconds"] == pytest.approx(session["resolution_seconds"])
        assert figures["csat_count"] == 0
        assert figures["csat_average"] is None


async def _seed(
    container: Container, tenant: TenantLogin, agent_id: uuid.UUID | None, **metrics: Any
) -> None:
    """A session with the given stored metrics (and an hour before now as its start)."""
    from ventros.conversations.domain import Session

    start = datetime.now(UTC) - timedelta(hours=1)
    session = Session.open(
        tenant_id=tenant.tenant_id, contact_id=uuid.uuid4(), channel_id=uuid.uuid4(), at=start
    )
    session.agent_id = agent_id
    for name, value in metrics.items():
        setattr(session, name, value)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        await SessionRepository(tx).add(session)
        await SessionRepository(tx).save(session)
        await tx.commit()


async def test_the_report_aggregates_per_agent_and_overall_with_median_and_p90(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    ana = (await add_agent(container, tenant)).id
    bia = (await add_agent(container, tenant)).id
    for frt, replies, total, score in (
        (10.0, 1, 10.0, 5),
        (20.0, 2, 50.0, 3),
        (60.0, 1, 60.0, None),
    ):
        await _seed(
            container,
            tenant,
            ana,
            first_response_seconds=frt,
            reply_count=replies,
            reply_seconds_total=total,
            csat_score=score,
        )
    await _seed(
        container,
        tenant,
        bia,
        first_response_seconds=100.0,
        reply_count=1,
        reply_seconds_total=100.0,
        csat_score=1,
    )
    await _seed(container, tenant, None)  # waiting: no metrics yet
    response = await client.get("/api/v1/reports/service", headers=tenant.headers)
    assert response.status_code == 200, response.text
    report = response.json()
    groups = {g["key"]: g for g in report["groups"]}
    a, b, none = groups[str(ana)], groups[str(bia)], groups[None]
    assert a["sessions"] == 3
    assert a["median_first_response_seconds"] == 20.0
    assert a["p90_first_response_seconds"] == pytest.approx(20 + 0.8 * 40)  # interpolated
    assert a["average_reply_seconds"] == pytest.approx(120 / 4)
    assert a["csat_average"] == pytest.approx(4.0)
    assert a["csat_count"] == 2
    assert b["median_first_response_seconds"] == 100.0
    assert none["sessions"] == 1
    assert none["median_first_response_seconds"] is None
    overall = report["overall"]
    assert overall["sessions"] == 5
    assert overall["median_first_response_seconds"] == pytest.approx(40.0)  # 10,20,60,100
    assert overall["average_reply_seconds"] == pytest.approx(220 / 5)
    assert overall["csat_average"] == pytest.approx(3.0)
    assert overall["csat_count"] == 3
    by_day = await client.get(
        "/api/v1/reports/service", params={"group_by": "day"}, headers=tenant.headers
    )
    assert by_day.status_code == 200, by_day.text
    assert sum(g["sessions"] for g in by_day.json()["groups"]) == 5


async def test_agents_may_not_read_the_service_report(
    client: httpx.AsyncClient, tenant: TenantLogin
) -> None:
    from tests.integration.test_sessions_assignment import _user_login

    _, agent_h = await _user_login(client, tenant, "agent")
    _, boss_h = await _user_login(client, tenant, "supervisor")
    assert (await client.get("/api/v1/reports/service", headers=agent_h)).status_code == 403
    assert (await client.get("/api/v1/reports/service", headers=boss_h)).status_code == 200
    bad = await client.get(
        "/api/v1/reports/service",
        params={"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=boss_h,
    )
    assert bad.status_code == 422
