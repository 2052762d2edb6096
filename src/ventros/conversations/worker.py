"""The ingest worker: drains `inbound_events` per tenant in batches.

One transaction claims up to `batch_size` events of a tenant (oldest first, `FOR UPDATE
SKIP LOCKED`, so workers can run side by side), ingests them, marks them processed and
commits once: the effects and the "processed" mark commit together, so a crash loses and
duplicates nothing. If anything in a batch fails, the batch is rolled back and its events
are retried one per transaction, so one bad event delays only itself (retried with
backoff, then set aside as `failed`). Tenants are served in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import asyncpg
import structlog

from ventros.channels import service as channels
from ventros.channels.domain import InboundEvent
from ventros.channels.sender import SenderPolicy
from ventros.conversations.handlers.sending import fail_abandoned_sends
from ventros.conversations.ingest import ingest_events
from ventros.conversations.repository import prune_pending_updates
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor
from ventros.platform.crypto import SecretBox
from ventros.platform.db import role_url
from ventros.platform.settings import APP_ROLE

if TYPE_CHECKING:
    from ventros.runtime.container import Container

log = structlog.get_logger(__name__)

# At most this many events per transaction. Batches size themselves: a worker that keeps
# up finds only what arrived during its last batch; a backlog is drained 500 at a time,
# at half the cost per event of batches of 100 (round trips and the commit are per batch).
BATCH_SIZE = 500
TENANTS_PER_PASS = 50
MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0
IDLE_POLL_SECONDS = 2.0  # safety net behind LISTEN/NOTIFY
RETENTION = timedelta(days=7)  # processed events (for dedupe) and orphan updates
PRUNE_EVERY_SECONDS = 600.0
ABANDONED_SENDS_EVERY_SECONDS = 60.0
NOTIFY_CHANNEL = "inbound_events"


async def ingest_pending(
    container: Container,
    *,
    tenant_id: uuid.UUID | None = None,
    batch_size: int = BATCH_SIZE,
    box: SecretBox | None = None,
) -> int:
    """Drains what is ready now (one tenant, or all); returns how many events it handled."""
    box = box or container.secret_box
    if tenant_id is not None:
        total = 0
        while handled := await drain_tenant(container, box, tenant_id, batch_size=batch_size):
            total += handled
        return total
    total = handled_this_round = 0
    after: uuid.UUID | None = None
    while True:
        async with container.database.system.connect() as connection:
            tenants = await channels.pending_inbound_tenants(
                connection, limit=TENANTS_PER_PASS, after=after
            )
        if not tenants:
            # End of a round over every tenant with pending events: another one if it did
            # anything (more may have arrived), else done.
            if after is None or handled_this_round == 0:
                return total
            after, handled_this_round = None, 0
            continue
        for tenant in tenants:
            handled = await drain_tenant(container, box, tenant, batch_size=batch_size)
            total += handled
            handled_this_round += handled
        after = tenants[-1]


async def drain_tenant(
    container: Container, box: SecretBox, tenant_id: uuid.UUID, *, batch_size: int
) -> int:
    """One batch of one tenant; returns how many events it handled (0 when none ready)."""
    claimed: list[InboundEvent] = []
    try:
        async with container.uow(tenant_id, Actor.system()) as tx:
            claimed = await channels.claim_inbound_events(tx, limit=batch_size)
            if not claimed:
                return 0
            outcomes = await ingest_events(tx, claimed, box)
            await channels.finish_inbound_events(tx, outcomes)
            await tx.commit()
            return len(claimed)
    except Exception as error:
        if not claimed:
            raise
        log.warning(
            "ingest batch failed; retrying its events one by one",
            tenant_id=str(tenant_id),
            events=len(claimed),
            error=repr(error),
        )
    for event in claimed:
        await _ingest_alone(container, box, event)
    return len(claimed)


async def _ingest_alone(container: Container, box: SecretBox, event: InboundEvent) -> None:
    try:
        async with container.uow(event.tenant_id, Actor.system()) as tx:
            claimed = await channels.claim_inbound_event(tx, event.id)
            if claimed is None:
                return  # done by another worker meanwhile
            outcomes = await ingest_events(tx, [claimed], box)
            await channels.finish_inbound_events(tx, outcomes)
            await tx.commit()
    except Exception as error:
        attempts = event.attempts + 1
        give_up = attempts >= MAX_ATTEMPTS
        log.exception(
            "ingest of an inbound event failed",
            tenant_id=str(event.tenant_id),
            inbound_event_id=str(event.id),
            attempt=attempts,
            given_up=give_up,
        )
        delay = min(RETRY_BASE_SECONDS * 2 ** (attempts - 1), RETRY_MAX_SECONDS)
        async with container.uow(event.tenant_id, Actor.system()) as tx:
            await channels.fail_inbound_event(
                tx,
                event.id,
                error=f"{type(error).__name__}: {error}",
                retry_at=utcnow() + timedelta(seconds=delay),
                give_up=give_up,
            )
            await tx.commit()


async def run_ingest(container: Container, stop: asyncio.Event) -> None:
    """The ingest worker: runs until `stop` is set (a supervisor background service)."""
    box = container.secret_box
    wake = asyncio.Event()
    listener: asyncpg.Connection | None = None
    next_prune = next_sweep = 0.0
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            if listener is None or listener.is_closed():
                listener = await _listen(container, wake)
            wake.clear()
            handled = await ingest_pending(container, box=box)
            if loop.time() >= next_prune:
                await _prune(container)
                next_prune = loop.time() + PRUNE_EVERY_SECONDS
            if loop.time() >= next_sweep:
                await _fail_abandoned_sends(container)
                next_sweep = loop.time() + ABANDONED_SENDS_EVERY_SECONDS
            if handled:
                continue
            await _wait_any(stop, wake, seconds=IDLE_POLL_SECONDS)
    finally:
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close(timeout=5)


async def _listen(container: Container, wake: asyncio.Event) -> asyncpg.Connection | None:
    """LISTEN for the webhook's NOTIFY, so a new event is ingested at once; polling every
    few seconds is the safety net (and the fallback when this fails)."""
    database = container.database
    url = role_url(database.owner_url, APP_ROLE, database.password)
    try:
        connection = await asyncpg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False)
        )
        await connection.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
    except (OSError, asyncpg.PostgresError):
        log.warning("LISTEN inbound_events failed; polling only", exc_info=True)
        return None
    return connection


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, *, seconds: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _prune(container: Container) -> None:
    older_than = utcnow() - RETENTION
    try:
        async with container.database.system.begin() as connection:
            events = await channels.prune_inbound_events(connection, older_than=older_than)
            updates = await prune_pending_updates(connection, older_than=older_than)
        if events or updates:
            log.info("ingest housekeeping", inbound_events=events, pending_updates=updates)
    except Exception:
        log.warning("ingest housekeeping failed", exc_info=True)


async def _fail_abandoned_sends(container: Container) -> None:
    deadline = SenderPolicy.from_settings(container.settings).deadline_seconds
    try:
        failed = await fail_abandoned_sends(
            container.uow, container.database.system, deadline_seconds=deadline
        )
        if failed:
            log.warning("failed outbound messages their sender abandoned", messages=failed)
    except Exception:
        log.warning("abandoned-send sweep failed", exc_info=True)
