"""Session timeouts (SessionTimeoutsWorkflow, the worker's sweep) on a real Temporal dev
server, with a 2-second timeout: an idle session closes by timeout; one with fresh activity
stays open past several timeouts; both carry on across a worker restart, and across a
restart of the Temporal server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from tests.conftest import TenantLogin
from tests.integration.processes import eventually
from tests.integration.temporal_kit import local_temporal
from tests.integration.test_sessions_assignment import open_session
from ventros.conversations.repository import SessionRepository
from ventros.conversations.workflows import timeouts_workflow_id
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor
from ventros.platform.embedded.temporal import EmbeddedTemporal
from ventros.platform.temporal import run_temporal_worker
from ventros.runtime.container import Container

pytestmark = pytest.mark.integration

MODULES = ("ventros.conversations.workflows",)


@pytest.fixture(scope="module")
async def temporal() -> AsyncIterator[Client]:
    async with await local_temporal() as env:
        yield env.client


async def _set_timeout(client: httpx.AsyncClient, tenant: TenantLogin, seconds: int) -> None:
    response = await client.patch(
        "/api/v1/settings", json={"session_timeout_seconds": seconds}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


async def _touch(container: Container, tenant: TenantLogin, session_id: uuid.UUID) -> None:
    """What the ingest does on a message: last_activity_at moves (no Temporal signal)."""
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        repo = SessionRepository(tx)
        session = await repo.get(session_id)
        assert session is not None
        session.record_inbound(utcnow())
        await repo.save(session)
        await tx.commit()


async def _status(
    container: Container, tenant: TenantLogin, session_id: uuid.UUID
) -> tuple[str, str | None]:
    async with container.uow(tenant.tenant_id, Actor.system()) as tx:
        session = await SessionRepository(tx).get(session_id)
    assert session is not None
    return session.status.value, session.close_reason


async def _sweeping(temporal: Client, queue: str) -> None:
    handle = temporal.get_workflow_handle(timeouts_workflow_id(queue))

    async def started() -> bool:
        try:
            return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        except RPCError:
            return False

    await eventually(started, within=30)


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


async def test_idle_sessions_close_by_timeout_and_active_ones_stay_open_across_a_worker_restart(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin, temporal: Client
) -> None:
    await _set_timeout(client, tenant, 2)
    queue = f"lifecycle-{uuid.uuid4().hex[:8]}"
    idle = await open_session(container, tenant)
    active = await open_session(container, tenant)

    worker = _Worker(container, temporal, queue)
    try:
        for _ in range(3):  # 3 s: past the first timeout
            await _touch(container, tenant, active.id)
            await asyncio.sleep(1)
    finally:
        await worker.close()
    # The worker is gone; the sweep's timer keeps running in the server.
    await _touch(container, tenant, active.id)
    await asyncio.sleep(1)
    await _touch(container, tenant, active.id)
    worker = _Worker(container, temporal, queue)
    try:
        for _ in range(4):  # several more timeouts' worth of time with activity
            await _touch(container, tenant, active.id)
            await asyncio.sleep(1)
        assert await _status(container, tenant, idle.id) == ("closed", "timeout")
        assert await _status(container, tenant, active.id) == ("open", None)
        # Activity stops: the active one closes by timeout too.
        for _ in range(40):
            if (await _status(container, tenant, active.id))[0] == "closed":
                break
            await asyncio.sleep(0.25)
        assert await _status(container, tenant, active.id) == ("closed", "timeout")
    finally:
        await worker.close()


async def test_session_timeouts_carry_on_across_a_temporal_server_restart(
    container: Container, client: httpx.AsyncClient, tenant: TenantLogin, tmp_path: Path
) -> None:
    await _set_timeout(client, tenant, 3)  # margin for a loaded machine
    queue = f"lifecycle-{uuid.uuid4().hex[:8]}"
    server = EmbeddedTemporal(tmp_path / "temporal")  # state in SQLite, as `ventros run`
    try:
        temporal = await Client.connect(await asyncio.to_thread(server.start))
        idle = await open_session(container, tenant)
        active = await open_session(container, tenant)
        worker = _Worker(container, temporal, queue)  # starts the sweep
        await _touch(container, tenant, active.id)
        await _sweeping(temporal, queue)
        await worker.close()
        await asyncio.to_thread(server.stop)

        # Temporal is down for longer than the timeout; activity goes on meanwhile.
        await _touch(container, tenant, active.id)
        address = await asyncio.to_thread(server.start)
        temporal = await Client.connect(address)
        worker = _Worker(container, temporal, queue)
        try:
            # The idle one's deadline passed while Temporal was down: the sweep closes it
            # once the server and a worker are back (how soon depends on the machine's load).
            for _ in range(30):
                await _touch(container, tenant, active.id)
                if (await _status(container, tenant, idle.id))[0] == "closed":
                    break
                await asyncio.sleep(1)
            assert await _status(container, tenant, idle.id) == ("closed", "timeout")
            assert await _status(container, tenant, active.id) == ("open", None)
        finally:
            await worker.close()
    finally:
        await asyncio.to_thread(server.stop)
