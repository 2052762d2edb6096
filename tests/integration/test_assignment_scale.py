"""AssignAgentToSession at scale: 200 sessions start at once and two worker processes (each
its own OS process, engine and pool) run the auto-assign consumer on their
`session.started` events concurrently. Five agents with
capacity 10: nobody ever exceeds 10 — checked during the run by a trigger that aborts any
transaction putting an agent over capacity and by a sampler, and after it by a query —
exactly 50 are assigned, 150 wait; closing sessions pulls the waiting ones in arrival order.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select, text

from tests.conftest import TEST_SECRET, TenantLogin, _libpq, make_settings
from tests.integration.test_sessions_assignment import add_agent
from ventros.conversations.domain import CLOSE_TIMEOUT, Session
from ventros.conversations.handlers.lifecycle import ASSIGN, DRAIN
from ventros.conversations.repository import SessionRepository, sessions
from ventros.conversations.service import assignment, lifecycle
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.consumers import Outcome, process_event
from ventros.platform.outbox import domain_events
from ventros.runtime.container import Container, bootstrap
from ventros.webhooks.repository import load_event

pytestmark = pytest.mark.integration

SESSIONS = 200
AGENTS = 5
CAPACITY = 10
PER_WORKER_CONCURRENCY = 25


# One worker process: the auto-assign consumer on the given events, as the worker runs it.
WORKER_PROCESS = """
import asyncio, json, sys, uuid
from pathlib import Path
from ventros.runtime.container import bootstrap
from ventros.conversations.handlers.lifecycle import ASSIGN
from ventros.kernel.events import Actor
from ventros.platform.consumers import process_event
from ventros.platform.settings import Settings
from ventros.webhooks.repository import load_event

async def main() -> None:
    url, secret, tenant_id, concurrency = sys.argv[1:5]
    settings = Settings(secret_key=secret, home=Path(".ventros-test"), log_json=False,
                        database_url=None, rabbitmq_url=None, db_pool_size=int(concurrency))
    container = bootstrap(settings, database_url=url)
    async with container.uow(uuid.UUID(tenant_id), Actor.system()) as tx:
        events = [await load_event(tx, uuid.UUID(i)) for i in sys.argv[5:]]
    gate = asyncio.Semaphore(int(concurrency))

    async def one(event):
        async with gate:
            return (await process_event(container.uow, ASSIGN, event)).value

    print(json.dumps(await asyncio.gather(*(one(e) for e in events))))
    await container.aclose()

asyncio.run(main())
"""


async def _run_in_process(
    owner_url: str, tenant: TenantLogin, events: list[DomainEvent]
) -> list[Outcome]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER_PROCESS,
        owner_url,
        TEST_SECRET,
        str(tenant.tenant_id),
        str(PER_WORKER_CONCURRENCY),
        *(str(e.id) for e in events),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0
    return [Outcome(value) for value in json.loads(out)]


@pytest.fixture
async def second_worker(owner_url: str) -> AsyncIterator[Container]:
    built = bootstrap(make_settings(db_pool_size=PER_WORKER_CONCURRENCY), database_url=owner_url)
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture
async def first_worker(owner_url: str) -> AsyncIterator[Container]:
    built = bootstrap(make_settings(db_pool_size=PER_WORKER_CONCURRENCY), database_url=owner_url)
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture
def capacity_check(owner_url: str, tenant: TenantLogin) -> Iterator[None]:
    """A trigger that fails any transaction leaving one of the tenant's agents with more
    open sessions than their capacity (it counts while the assigner holds the agent's row
    lock, so it sees every committed assignment of that agent)."""
    suffix = uuid.uuid4().hex[:8]
    function, trigger = f"test_capacity_check_{suffix}", f"test_capacity_{suffix}"
    body = sql.SQL(
        """
        CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE open_count int; capacity int;
        BEGIN
          SELECT count(*) INTO open_count FROM sessions
            WHERE agent_id = NEW.agent_id AND status = 'open';
          SELECT max_concurrent_sessions INTO capacity FROM users WHERE id = NEW.agent_id;
          IF open_count > capacity THEN
            RAISE EXCEPTION 'agent % over capacity: % > %', NEW.agent_id, open_count, capacity;
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER {trigger} AFTER UPDATE OF agent_id, status ON sessions
          FOR EACH ROW
          WHEN (NEW.agent_id IS NOT NULL AND NEW.status = 'open'
                AND NEW.tenant_id = {tenant})
          EXECUTE FUNCTION {function}();
        """
    ).format(
        function=sql.Identifier(function),
        trigger=sql.Identifier(trigger),
        tenant=sql.Literal(str(tenant.tenant_id)),
    )
    with psycopg.connect(_libpq(owner_url), autocommit=True) as conn:
        conn.execute(body)
    try:
        yield
    finally:
        with psycopg.connect(_libpq(owner_url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP TRIGGER IF EXISTS {} ON sessions").format(sql.Identifier(trigger))
            )
            conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(sql.Identifier(function)))


async def _auto_assign_on(client: httpx.AsyncClient, tenant: TenantLogin) -> None:
    response = await client.patch(
        "/api/v1/settings", json={"auto_assign": True}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


async def _start_sessions(container: Container, tenant: TenantLogin) -> list[DomainEvent]:
    """200 sessions of different contacts, committed together, each 1 ms after the other
    (their arrival order); returns their `session.started` events."""
    base = utcnow() - timedelta(seconds=5)
    started = []
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        repo = SessionRepository(tx)
        for i in range(SESSIONS):
            session = Session.open(
                tenant_id=tenant.tenant_id,
                contact_id=uuid.uuid4(),
                channel_id=uuid.uuid4(),
                at=base + timedelta(milliseconds=i),
            )
            started.append(session.pending_events[0])
            assert await repo.add(session)
        await tx.commit()
    return started


async def _run(worker: Container, events: list[DomainEvent], consumer: object) -> list[Outcome]:
    gate = asyncio.Semaphore(PER_WORKER_CONCURRENCY)

    async def one(event: DomainEvent) -> Outcome:
        async with gate:
            return await process_event(worker.uow, consumer, event)  # type: ignore[arg-type]

    return await asyncio.gather(*(one(e) for e in events))


async def _loads(container: Container, tenant: TenantLogin) -> dict[uuid.UUID, int]:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        query = text(
            "SELECT agent_id, count(*) FROM sessions"
            " WHERE status = 'open' AND agent_id IS NOT NULL GROUP BY agent_id"
        )
        return {row[0]: int(row[1]) for row in await tx.connection.execute(query)}


async def _by_arrival(container: Container, tenant: TenantLogin) -> list[tuple[uuid.UUID, bool]]:
    """(session id, assigned?) of the open sessions, in arrival order."""
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        query = (
            select(sessions.c.id, sessions.c.agent_id)
            .where(sessions.c.status == "open")
            .order_by(sessions.c.started_at, sessions.c.id)
        )
        return [(row[0], row[1] is not None) for row in await tx.connection.execute(query)]


async def _close(container: Container, tenant: TenantLogin, session_id: uuid.UUID) -> DomainEvent:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        assert await lifecycle.close_by_system(tx, session_id, CLOSE_TIMEOUT)
        await tx.commit()
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        event_id = (
            await tx.connection.execute(
                select(domain_events.c.id).where(
                    domain_events.c.aggregate_id == session_id,
                    domain_events.c.name == "session.closed",
                )
            )
        ).scalar_one()
        event = await load_event(tx, event_id)
    assert event is not None
    return event


async def _agent_of(container: Container, tenant: TenantLogin, session_id: uuid.UUID) -> object:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        found = await SessionRepository(tx).get(session_id)
    assert found is not None
    return found.agent_id


@pytest.mark.usefixtures("capacity_check")
async def test_200_sessions_at_once_across_two_workers_fill_five_agents_to_exactly_ten(
    owner_url: str,
    container: Container,
    client: httpx.AsyncClient,
    tenant: TenantLogin,
    first_worker: Container,
    second_worker: Container,
) -> None:
    await _auto_assign_on(client, tenant)
    team = [await add_agent(container, tenant, capacity=CAPACITY) for _ in range(AGENTS)]
    started = await _start_sessions(container, tenant)

    # A sampler watches the loads while the two workers assign.
    highest: dict[uuid.UUID, int] = {}
    done = asyncio.Event()

    async def sample() -> int:
        rounds = 0
        while not done.is_set():
            for agent_id, load in (await _loads(container, tenant)).items():
                highest[agent_id] = max(highest.get(agent_id, 0), load)
            rounds += 1
            await asyncio.sleep(0.005)
        return rounds

    sampler = asyncio.create_task(sample())
    results = await asyncio.gather(
        _run_in_process(owner_url, tenant, started[0::2]),
        _run_in_process(owner_url, tenant, started[1::2]),
    )
    done.set()
    assert await sampler > 0
    assert all(o is Outcome.PROCESSED for outcomes in results for o in outcomes)

    assert max(highest.values()) <= CAPACITY
    assert await _loads(container, tenant) == {a.id: CAPACITY for a in team}
    order = await _by_arrival(container, tenant)
    assert sum(assigned for _, assigned in order) == AGENTS * CAPACITY
    waiting = [sid for sid, assigned in order if not assigned]
    assert len(waiting) == SESSIONS - AGENTS * CAPACITY
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        assert await assignment.waiting_sessions(tx, limit=SESSIONS) == waiting

    # Redelivered events change nothing.
    again = await _run(first_worker, started[:20], ASSIGN)
    assert set(again) == {Outcome.DUPLICATE}

    # Closing sessions one at a time (alternating workers) pulls the oldest waiting one in.
    assigned_ids = [sid for sid, assigned in order if assigned]
    for i in range(10):
        worker = (first_worker, second_worker)[i % 2]
        closed = await _close(worker, tenant, assigned_ids[i])
        assert await process_event(worker.uow, DRAIN, closed) is Outcome.PROCESSED
        assert await _agent_of(container, tenant, waiting[i]) is not None
        assert await _agent_of(container, tenant, waiting[i + 1]) is None

    # Twenty closes at once across both workers: the next twenty in arrival order come in.
    closing = assigned_ids[10:30]
    closed_events = [
        await _close((first_worker, second_worker)[i % 2], tenant, sid)
        for i, sid in enumerate(closing)
    ]
    drained = await asyncio.gather(
        _run(first_worker, closed_events[0::2], DRAIN),
        _run(second_worker, closed_events[1::2], DRAIN),
    )
    assert all(o is Outcome.PROCESSED for outcomes in drained for o in outcomes)
    order = await _by_arrival(container, tenant)
    now_waiting = [sid for sid, assigned in order if not assigned]
    assert now_waiting == waiting[30:]
    assert await _loads(container, tenant) == {a.id: CAPACITY for a in team}
    assert max(highest.values()) <= CAPACITY
