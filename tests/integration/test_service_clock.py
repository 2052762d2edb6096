"""SessionServiceWorkflow on a real Temporal dev server with second-scale timings: a
session that starts outside its team's hours gets the automatic reply once (the WAHA
stand-in receives exactly one) and is assigned at the opening, across a worker restart;
SLA warning then breach fire at their moments and pause while the team is closed; a
silent customer gets one nudge, then the session closes as `no_reply`; a snooze comes
back at its time. Each of these also with the worker stopped and a new one started while
its timer is pending (the timer runs on in the server; the new worker replays). A label
with a stricter SLA put on a running clock's session moves its deadline from the start."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from tests.conftest import TenantLogin
from tests.integration.temporal_kit import local_temporal
from tests.integration.test_routing_rules import api, created
from tests.integration.test_sending_outbound import sender_consumer
from tests.integration.test_service_metrics import whatsapp_message
from tests.integration.test_sessions_assignment import add_agent
from tests.integration.waha_kit import create_channel, deliver, ingest, rows
from tests.stand_ins.waha import WahaStandIn
from ventros.channels.waha_client import WahaClient
from ventros.conversations.domain import Session
from ventros.conversations.handlers.lifecycle import assign_consumer, sla_label_consumer
from ventros.conversations.repository import SessionRepository
from ventros.conversations.service import routing
from ventros.conversations.service_clock import ServiceInput, wake_service, workflow_id_of
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Outcome, process_event
from ventros.platform.outbox import domain_events
from ventros.platform.temporal import run_temporal_worker
from ventros.runtime.container import Container
from ventros.webhooks.repository import load_event

pytestmark = pytest.mark.integration

MODULES = ("ventros.conversations.service_clock",)
CLOSED_REPLY = "Estamos fechados agora; respondemos assim que abrirmos."


@pytest.fixture(scope="module")
async def temporal() -> AsyncIterator[Client]:
    async with await local_temporal() as env:
        yield env.client


class _Worker:
    def __init__(self, container: Container, client: Client, queue: str) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            run_temporal_worker(
                container, self.stop, client=client, modules=MODULES, task_queue=queue
            )
        )

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {result!r}")
        await asyncio.sleep(0.1)


def _clock(at: datetime) -> str:
    return at.strftime("%H:%M:%S")


def _weekday(at: datetime) -> str:
    return ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[at.weekday()]


def _same_day_or_skip(*instants: datetime) -> None:
    if len({i.date() for i in instants}) > 1:
        pytest.skip("the scripted schedule would cross midnight UTC")


async def _session(container: Container, tenant: TenantLogin, session_id: uuid.UUID) -> Session:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        found = await SessionRepository(tx).get(session_id)
    assert found is not None
    return found


async def _events(
    container: Container, tenant: TenantLogin, name: str, aggregate: uuid.UUID
) -> list[Any]:
    return await rows(
        container,
        tenant,
        "SELECT data, occurred_at FROM domain_events WHERE name = :n AND aggregate_id = :a"
        " ORDER BY occurred_at",
        n=name,
        a=aggregate,
    )


async def _started_events(container: Container, tenant: TenantLogin) -> list[DomainEvent]:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        ids = list(
            (
                await tx.connection.execute(
                    select(domain_events.c.id).where(domain_events.c.name == "session.started")
                )
            ).scalars()
        )
        found = [await load_event(tx, i) for i in ids]
    return [e for e in found if e is not None]


async def _send_pending(container: Container, tenant: TenantLogin, waha_client: WahaClient) -> None:
    """What the WhatsApp sender consumer does with every `message.sending` (once each)."""
    consumer, _ = sender_consumer(container, waha_client)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        ids = list(
            (
                await tx.connection.execute(
                    select(domain_events.c.id).where(domain_events.c.name == "message.sending")
                )
            ).scalars()
        )
        found = [await load_event(tx, i) for i in ids]
    for event in found:
        assert event is not None
        outcome = await process_event(container.uow, consumer, event)
        assert outcome in (Outcome.PROCESSED, Outcome.DUPLICATE), outcome


async def _setup(
    client: httpx.AsyncClient, tenant: TenantLogin, team: dict[str, Any]
) -> dict[str, Any]:
    # A long inactivity timeout: the lifecycle's own close stays out of these tests.
    settings = {"auto_assign": True, "session_timeout_seconds": 3600}
    response = await api(client, tenant, "PATCH", "/settings", settings)
    assert response.status_code == 200, response.text
    made = await created(client, tenant, "/teams", team)
    await created(client, tenant, "/routing-rules", {"name": "all", "team_id": made["id"]})
    return made


async def test_outside_hours_one_reply_then_assignment_at_the_opening_across_a_worker_restart(
    container: Container,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    temporal: Client,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    now = datetime.now(UTC)
    opening = (now + timedelta(seconds=6)).replace(microsecond=0)
    _same_day_or_skip(now, opening)
    agent = await add_agent(container, tenant, capacity=5)
    hours = await created(
        client,
        tenant,
        "/business-hours",
        {
            "name": "Loja",
            "timezone": "UTC",
            "weekly": {_weekday(opening): [[_clock(opening), "24:00"]]},
            "outside_hours_reply": CLOSED_REPLY,
        },
    )
    team = await _setup(
        client,
        tenant,
        {"name": "Vendas", "members": [str(agent.id)], "business_hours_id": hours["id"]},
    )
    queue = f"clock-{uuid.uuid4().hex[:8]}"

    async def wake(params: ServiceInput) -> None:
        await wake_service(params, client=temporal, task_queue=queue)

    consumer = assign_consumer(wake)
    channel = (await create_channel(client, tenant, base_url=waha.base_url))["id"]
    await deliver(client, channel, whatsapp_message("oi, vocês abrem hoje?", int(time.time())))
    await ingest(container, tenant)
    [started] = await _started_events(container, tenant)
    session_id = uuid.UUID(str(started.payload["session_id"]))
    assert await process_event(container.uow, consumer, started) is Outcome.PROCESSED
    assert await process_event(container.uow, consumer, started) is Outcome.DUPLICATE
    await _send_pending(container, tenant, waha_client)  # the sender, as soon as it is written

    worker = _Worker(container, temporal, queue)
    try:
        await eventually(lambda: _events(container, tenant, "session.auto_replied", session_id))
    finally:
        await worker.close()  # the opening's timer runs on in the server meanwhile
    waiting = await _session(container, tenant, session_id)
    assert waiting.agent_id is None
    assert waiting.team_id == uuid.UUID(team["id"])
    queued = (await api(client, tenant, "GET", f"/teams/{team['id']}/queue")).json()
    assert [s["id"] for s in queued] == [str(session_id)]
    await asyncio.sleep((opening + timedelta(seconds=1) - datetime.now(UTC)).total_seconds())
    assert (await _session(container, tenant, session_id)).agent_id is None  # no worker
    worker = _Worker(container, temporal, queue)
    try:

        async def assigned() -> bool:
            return (await _session(container, tenant, session_id)).agent_id == agent.id

        await eventually(assigned)
    finally:
        await worker.close()
    [assignment] = await _events(container, tenant, "session.agent_assigned", session_id)
    assert assignment.occurred_at >= opening
    await _send_pending(container, tenant, waha_client)
    await _send_pending(container, tenant, waha_client)
    replies = [r for r in waha.sends() if r.body and r.body.get("text") == CLOSED_REPLY]
    assert len(replies) == 1
    assert len(await _events(container, tenant, "session.auto_replied", session_id)) == 1


async def _session_under_a_6s_sla_with_a_pause(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin
) -> tuple[datetime, Session]:
    """A session opened at t0 in team Suporte, whose hours close from t0+4 s to t0+8 s,
    held to a 6-second first-response SLA."""
    t0 = datetime.now(UTC).replace(microsecond=0)
    closes, reopens = t0 + timedelta(seconds=4), t0 + timedelta(seconds=8)
    _same_day_or_skip(t0, reopens)
    hours = await created(
        client,
        tenant,
        "/business-hours",
        {
            "name": "Turnos",
            "timezone": "UTC",
            "weekly": {_weekday(t0): [[_clock(t0), _clock(closes)], [_clock(reopens), "24:00"]]},
        },
    )
    team = await _setup(client, tenant, {"name": "Suporte", "business_hours_id": hours["id"]})
    await created(
        client,
        tenant,
        "/sla-policies",
        {"name": "6 s", "team_id": team["id"], "first_response_seconds": 6},
    )
    session = Session.open(
        tenant_id=tenant.tenant_id, contact_id=uuid.uuid4(), channel_id=uuid.uuid4(), at=t0
    )
    session.team_id = uuid.UUID(team["id"])
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        assert await SessionRepository(tx).add(session)
        await tx.commit()
    return t0, session


async def test_sla_warning_then_breach_fire_on_time_and_pause_while_closed(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin, temporal: Client
) -> None:
    t0, session = await _session_under_a_6s_sla_with_a_pause(container, client, tenant)
    queue = f"clock-{uuid.uuid4().hex[:8]}"
    params = ServiceInput(str(tenant.tenant_id), str(session.id))
    worker = _Worker(container, temporal, queue)
    try:
        await wake_service(params, client=temporal, task_queue=queue)
        await wake_service(params, client=temporal, task_queue=queue)  # a second start: one clock
        [breach] = await eventually(
            lambda: _events(container, tenant, "session.sla_breached", session.id), within=30
        )
    finally:
        await worker.close()
    [warning] = await _events(container, tenant, "session.sla_warning", session.id)
    # 4 s open, 4 s closed, then 0.8 s / 2 s more: warning at t0+8.8 s, breach at t0+10 s
    # (without the pause they would have been t0+4.8 s and t0+6 s).
    warned_at = datetime.fromisoformat(warning.data["at"])
    breached_at = datetime.fromisoformat(breach.data["at"])
    assert t0 + timedelta(seconds=8.8) <= warned_at < t0 + timedelta(seconds=10)
    assert t0 + timedelta(seconds=10) <= breached_at < t0 + timedelta(seconds=12)
    assert breach.data["kind"] == "first_response"
    stored = await _session(container, tenant, session.id)
    assert stored.first_response_due_at == t0 + timedelta(seconds=10)
    assert stored.sla_raised == ["first_response.warning", "first_response.breached"]
    got = (await api(client, tenant, "GET", f"/sessions/{session.id}")).json()
    assert got["sla_breached"] is True


async def test_a_silent_customer_gets_one_nudge_then_the_session_closes_as_no_reply(
    container: Container,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    temporal: Client,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    nudge = "Ainda está por aí? Posso ajudar em algo mais?"
    await _setup(
        client,
        tenant,
        {
            "name": "Vendas",
            "follow_up": {"nudge_after_seconds": 2, "nudge_text": nudge, "close_after_seconds": 2},
        },
    )
    queue = f"clock-{uuid.uuid4().hex[:8]}"

    async def wake(params: ServiceInput) -> None:
        await wake_service(params, client=temporal, task_queue=queue)

    channel = (await create_channel(client, tenant, base_url=waha.base_url))["id"]
    now = int(time.time())
    await deliver(client, channel, whatsapp_message("quanto custa a lente?", now - 1))
    await deliver(client, channel, whatsapp_message("R$ 300, quer reservar?", now, from_me=True))
    await ingest(container, tenant)
    [started] = await _started_events(container, tenant)
    session_id = uuid.UUID(str(started.payload["session_id"]))
    assert await process_event(container.uow, assign_consumer(wake), started) is Outcome.PROCESSED
    worker = _Worker(container, temporal, queue)
    try:
        await eventually(lambda: _events(container, tenant, "session.follow_up_sent", session_id))
        await _send_pending(container, tenant, waha_client)

        async def closed() -> bool:
            return not (await _session(container, tenant, session_id)).is_open

        await eventually(closed, within=30)
    finally:
        await worker.close()
    stored = await _session(container, tenant, session_id)
    assert stored.close_reason == "no_reply"
    [sent] = await _events(container, tenant, "session.follow_up_sent", session_id)
    [closing] = await _events(container, tenant, "session.closed", session_id)
    assert (closing.occurred_at - sent.occurred_at).total_seconds() >= 2
    await _send_pending(container, tenant, waha_client)
    nudges = [r for r in waha.sends() if r.body and r.body.get("text") == nudge]
    assert len(nudges) == 1


async def test_a_snoozed_session_leaves_the_inbox_and_comes_back_at_its_time(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin, temporal: Client
) -> None:
    agent = await add_agent(container, tenant, capacity=5)
    session = Session.open(
        tenant_id=tenant.tenant_id,
        contact_id=uuid.uuid4(),
        channel_id=uuid.uuid4(),
        at=datetime.now(UTC),
    )
    session.agent_id = agent.id
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        assert await SessionRepository(tx).add(session)
        await tx.commit()
    past = await api(
        client, tenant, "POST", f"/sessions/{session.id}/snooze", {"until": "2020-01-01T00:00:00Z"}
    )
    assert past.status_code == 422, past.text
    assert ["body", "until"] in [e["loc"] for e in past.json()["errors"]]
    naive = await api(client, tenant, "POST", f"/sessions/{session.id}/snooze", {"until": "soon"})
    assert naive.status_code == 422
    # Through the API (this process has no Temporal: the snooze is kept all the same).
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    answered = await api(client, tenant, "POST", f"/sessions/{session.id}/snooze", {"until": later})
    assert answered.status_code == 200, answered.text
    assert answered.json()["snoozed_until"] is not None
    queue = f"clock-{uuid.uuid4().hex[:8]}"
    until = datetime.now(UTC) + timedelta(seconds=3)
    from ventros.conversations.service import lifecycle
    from ventros.identity.domain import Principal, Role

    supervisor = Principal(
        user_id=agent.id,
        tenant_id=tenant.tenant_id,
        role=Role.SUPERVISOR,
        email="s@example.com",  # type: ignore[arg-type]
    )
    snoozed = await lifecycle.snooze_session(container.uow, supervisor, session.id, until=until)
    assert snoozed.snoozed_until == until
    worker = _Worker(container, temporal, queue)
    try:
        await wake_service(
            ServiceInput(str(tenant.tenant_id), str(session.id)), client=temporal, task_queue=queue
        )
        [back] = await eventually(
            lambda: _events(container, tenant, "session.unsnoozed", session.id), within=20
        )
    finally:
        await worker.close()
    assert back.occurred_at >= until
    assert len(await _events(container, tenant, "session.snoozed", session.id)) == 2
    assert (await _session(container, tenant, session.id)).snoozed_until is None


# --------------------------------------------------------------- across a worker restart


async def _ticks(temporal: Client, session_id: uuid.UUID) -> int:
    """How many `tick`s the session's clock has completed (0: no clock yet)."""
    handle = temporal.get_workflow_handle(workflow_id_of(session_id))
    try:
        history = await handle.fetch_history()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return 0
        raise
    return sum(1 for e in history.events if e.HasField("activity_task_completed_event_attributes"))


async def _restart_while_pending(
    container: Container,
    temporal: Client,
    queue: str,
    session_id: uuid.UUID,
    *,
    back_at: datetime,
    wake: Callable[[], Awaitable[Any]] | None = None,
) -> _Worker:
    """Runs a worker until the clock's first tick has set its timer, stops it (the timer
    runs on in the server), and starts a new worker at `back_at`; the new worker."""
    worker = _Worker(container, temporal, queue)
    try:
        if wake is not None:
            await wake()
        await eventually(lambda: _ticks(temporal, session_id))
    finally:
        await worker.close()
    await asyncio.sleep(max((back_at - datetime.now(UTC)).total_seconds(), 0.0))
    return _Worker(container, temporal, queue)


async def test_sla_warning_and_breach_fire_on_time_across_a_worker_restart(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin, temporal: Client
) -> None:
    t0, session = await _session_under_a_6s_sla_with_a_pause(container, client, tenant)
    queue = f"clock-{uuid.uuid4().hex[:8]}"
    params = ServiceInput(str(tenant.tenant_id), str(session.id))

    async def start() -> None:
        await wake_service(params, client=temporal, task_queue=queue)

    # The first worker sets the timer for the warning; the restart falls in the closed
    # hours, before it is due.
    worker = await _restart_while_pending(
        container, temporal, queue, session.id, back_at=t0 + timedelta(seconds=5.5), wake=start
    )
    assert (await _session(container, tenant, session.id)).sla_raised == []
    try:
        [breach] = await eventually(
            lambda: _events(container, tenant, "session.sla_breached", session.id), within=30
        )
    finally:
        await worker.close()
    [warning] = await _events(container, tenant, "session.sla_warning", session.id)
    # Same moments as without the restart: t0+8.8 s and t0+10 s (the pause included).
    warned_at = datetime.fromisoformat(warning.data["at"])
    breached_at = datetime.fromisoformat(breach.data["at"])
    assert t0 + timedelta(seconds=8.8) <= warned_at < t0 + timedelta(seconds=10)
    assert t0 + timedelta(seconds=10) <= breached_at < t0 + timedelta(seconds=12)
    stored = await _session(container, tenant, session.id)
    assert stored.sla_raised == ["first_response.warning", "first_response.breached"]


async def test_a_pending_nudge_is_sent_once_then_the_session_closes_across_a_worker_restart(
    container: Container,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    temporal: Client,
    waha: WahaStandIn,
    waha_client: WahaClient,
) -> None:
    nudge = "Oi! Ainda quer reservar a lente?"
    await _setup(
        client,
        tenant,
        {
            "name": "Vendas",
            "follow_up": {"nudge_after_seconds": 3, "nudge_text": nudge, "close_after_seconds": 2},
        },
    )
    queue = f"clock-{uuid.uuid4().hex[:8]}"

    async def wake(params: ServiceInput) -> None:
        await wake_service(params, client=temporal, task_queue=queue)

    channel = (await create_channel(client, tenant, base_url=waha.base_url))["id"]
    now = int(time.time())
    await deliver(client, channel, whatsapp_message("tem lente de grau?", now - 1))
    await deliver(client, channel, whatsapp_message("Temos sim, quer ver?", now, from_me=True))
    await ingest(container, tenant)
    [started] = await _started_events(container, tenant)
    session_id = uuid.UUID(str(started.payload["session_id"]))
    assert await process_event(container.uow, assign_consumer(wake), started) is Outcome.PROCESSED
    nudge_due = datetime.fromtimestamp(now + 3, UTC)
    # No worker while the nudge falls due: the new one finds its timer fired.
    worker = await _restart_while_pending(
        container, temporal, queue, session_id, back_at=nudge_due + timedelta(seconds=1)
    )
    try:
        await eventually(lambda: _events(container, tenant, "session.follow_up_sent", session_id))
        await _send_pending(container, tenant, waha_client)

        async def closed() -> bool:
            return not (await _session(container, tenant, session_id)).is_open

        await eventually(closed, within=30)
    finally:
        await worker.close()
    stored = await _session(container, tenant, session_id)
    assert stored.close_reason == "no_reply"
    [sent] = await _events(container, tenant, "session.follow_up_sent", session_id)
    [closing] = await _events(container, tenant, "session.closed", session_id)
    assert sent.occurred_at >= nudge_due
    assert (closing.occurred_at - sent.occurred_at).total_seconds() >= 2
    await _send_pending(container, tenant, waha_client)
    nudges = [r for r in waha.sends() if r.body and r.body.get("text") == nudge]
    assert len(nudges) == 1


async def test_a_snoozed_session_comes_back_on_time_across_a_worker_restart(
    container: Container, tenant: TenantLogin, temporal: Client
) -> None:
    session = Session.open(
        tenant_id=tenant.tenant_id,
        contact_id=uuid.uuid4(),
        channel_id=uuid.uuid4(),
        at=datetime.now(UTC),
    )
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        assert await SessionRepository(tx).add(session)
        await tx.commit()
    until = datetime.now(UTC) + timedelta(seconds=5)
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        stored = await SessionRepository(tx).get(session.id)
        assert stored is not None
        await routing.snooze(tx, stored, until)
        await tx.commit()
    queue = f"clock-{uuid.uuid4().hex[:8]}"
    params = ServiceInput(str(tenant.tenant_id), str(session.id))

    async def start() -> None:
        await wake_service(params, client=temporal, task_queue=queue)

    worker = await _restart_while_pending(
        container, temporal, queue, session.id, back_at=until - timedelta(seconds=2), wake=start
    )
    assert (await _session(container, tenant, session.id)).snoozed_until == until
    try:
        [back] = await eventually(
            lambda: _events(container, tenant, "session.unsnoozed", session.id), within=20
        )
    finally:
        await worker.close()
    assert until <= back.occurred_at < until + timedelta(seconds=1.5)
    assert (await _session(container, tenant, session.id)).snoozed_until is None


# --------------------------------------------------------------- SLA of a conversation label


async def _consume(container: Container, tenant: TenantLogin, consumer: Any, name: str) -> None:
    """Runs `consumer` on every `name` event so far, as the worker would (once each)."""
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        ids = list(
            (
                await tx.connection.execute(
                    select(domain_events.c.id).where(domain_events.c.name == name)
                )
            ).scalars()
        )
        found = [await load_event(tx, i) for i in ids]
    assert found
    for event in found:
        assert event is not None
        outcome = await process_event(container.uow, consumer, event)
        assert outcome in (Outcome.PROCESSED, Outcome.DUPLICATE), outcome


async def test_a_label_with_a_stricter_sla_recomputes_the_running_clock_from_the_start(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin, temporal: Client
) -> None:
    team = await _setup(client, tenant, {"name": "Vendas"})
    await created(
        client,
        tenant,
        "/sla-policies",
        {"name": "1 min", "team_id": team["id"], "first_response_seconds": 60},
    )
    await created(
        client,
        tenant,
        "/sla-policies",
        {"name": "VIP", "label": "vip", "first_response_seconds": 5},
    )
    vip = await created(client, tenant, "/labels", {"name": "VIP"})
    t0 = datetime.now(UTC).replace(microsecond=0)
    session = Session.open(
        tenant_id=tenant.tenant_id, contact_id=uuid.uuid4(), channel_id=uuid.uuid4(), at=t0
    )
    session.team_id = uuid.UUID(team["id"])
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        assert await SessionRepository(tx).add(session)
        await tx.commit()
    queue = f"clock-{uuid.uuid4().hex[:8]}"

    async def wake(params: ServiceInput) -> None:
        await wake_service(params, client=temporal, task_queue=queue)

    labels = sla_label_consumer(wake)
    worker = _Worker(container, temporal, queue)
    try:
        await wake(ServiceInput(str(tenant.tenant_id), str(session.id)))
        await eventually(lambda: _ticks(temporal, session.id))
        assert (await _session(container, tenant, session.id)).first_response_due_at == (
            t0 + timedelta(seconds=60)
        )
        labeled = await api(
            client, tenant, "POST", f"/sessions/{session.id}/labels", {"label_id": vip["id"]}
        )
        assert labeled.status_code in (200, 201), labeled.text
        await _consume(container, tenant, labels, "session.labeled")
        [breach] = await eventually(
            lambda: _events(container, tenant, "session.sla_breached", session.id), within=20
        )
        # Taken off again: the team's deadline is back; nothing is raised a second time.
        unlabeled = await api(
            client, tenant, "DELETE", f"/sessions/{session.id}/labels/{vip['id']}"
        )
        assert unlabeled.status_code == 200, unlabeled.text
        await _consume(container, tenant, labels, "session.unlabeled")

        async def deadline_back() -> bool:
            stored = await _session(container, tenant, session.id)
            return stored.first_response_due_at == t0 + timedelta(seconds=60)

        await eventually(deadline_back)
    finally:
        await worker.close()
    [warning] = await _events(container, tenant, "session.sla_warning", session.id)
    # The label's 5 s count from the session's start (t0), not from when it was put on.
    warned_at = datetime.fromisoformat(warning.data["at"])
    breached_at = datetime.fromisoformat(breach.data["at"])
    assert t0 + timedelta(seconds=4) <= warned_at < t0 + timedelta(seconds=5.2)
    assert t0 + timedelta(seconds=5) <= breached_at < t0 + timedelta(seconds=7)
    assert datetime.fromisoformat(breach.data["due_at"]) == t0 + timedelta(seconds=5)
    stored = await _session(container, tenant, session.id)
    assert stored.sla_raised == ["first_response.warning", "first_response.breached"]
    assert len(await _events(container, tenant, "session.sla_breached", session.id)) == 1
