"""Group commit for the WAHA webhook: many deliveries, one transaction, one WAL flush.

A webhook answers 200 only once its envelope is durable, and a commit costs a WAL flush
(fsync). Committing each delivery alone caps a process at the commits the disk can do; so
verified deliveries are handed to `InboundIntake.store`, which queues them, and a few
drainer tasks store whatever has queued meanwhile: per tenant, one multi-row insert that
is its own transaction (one round trip; row-level security stays the tenant's), and only
then answer each caller. Batches form by themselves: while one flush waits for the disk,
the next one collects; an idle server stores a lone delivery at once, with no added wait.

If a batch fails (one body PostgreSQL refuses, say), nothing of it was stored: each of
its deliveries is stored again alone, in its own transaction, and each caller gets its
own outcome — the others are neither lost nor answered with someone else's error.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from ventros.channels.repository import NewInboundEvent, store_inbound_events

log = structlog.get_logger(__name__)

MAX_BATCH = 200  # rows per statement; a deeper queue is stored in several batches
MAX_FLUSHES = 2  # batches in flight at once: one collects while another waits for the disk
TENANT_STATEMENTS = 4  # a batch's tenants stored side by side, at most this many at once

_Waiter = tuple[NewInboundEvent, "asyncio.Future[bool]"]


class InboundIntake:
    """`await intake.store(event)`: True once stored durably, False when it was a repeat
    (stored before, or earlier in the same batch); raises what storing it alone raised."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = MAX_BATCH,
        max_flushes: int = MAX_FLUSHES,
    ) -> None:
        if max_batch < 1 or max_flushes < 1:
            raise ValueError("max_batch and max_flushes must be at least 1")
        self._engine = engine  # the application's: row-level security applies
        self._max_batch = max_batch
        self._max_flushes = max_flushes
        self._queue: list[_Waiter] = []
        self._drainers: set[asyncio.Task[None]] = set()
        self._active = 0  # drainers started and not finished
        # Bounds the connections a batch spanning many tenants takes from the pool.
        self._statements = asyncio.Semaphore(TENANT_STATEMENTS)
        self.batches = 0  # flushed batches (for tests and metrics)

    async def store(self, event: NewInboundEvent) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((event, future))
        if self._active < self._max_flushes:
            # Counted now, not when the task ends: a drainer leaves only after it saw the
            # queue empty, with no await in between, so no row is ever left without one.
            self._active += 1
            drainer = asyncio.create_task(self._drain())
            self._drainers.add(drainer)
            drainer.add_done_callback(self._drainers.discard)
        # A caller that goes away (client disconnect) does not take its row out of the
        # batch: it is stored anyway, and a retry by WAHA is then a repeat.
        return await future

    async def wait_idle(self) -> None:
        """Until everything queued is stored (shutdown)."""
        while self._drainers:
            await asyncio.gather(*self._drainers, return_exceptions=True)

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                try:
                    await self._flush(batch)
                except BaseException as error:  # never leave a caller waiting
                    for _, future in batch:
                        if future.done():
                            continue
                        if isinstance(error, Exception):
                            future.set_exception(error)
                        else:
                            future.cancel()
                    if not isinstance(error, Exception):
                        raise
        finally:
            self._active -= 1

    async def _flush(self, batch: list[_Waiter]) -> None:
        self.batches += 1
        by_tenant: dict[uuid.UUID, list[_Waiter]] = defaultdict(list)
        for waiter in batch:
            by_tenant[waiter[0].tenant_id].append(waiter)
        groups = list(by_tenant.items())
        if len(groups) == 1:
            await self._flush_tenant(*groups[0])
        else:
            await asyncio.gather(*(self._flush_tenant(t, w) for t, w in groups))

    async def _flush_tenant(self, tenant_id: uuid.UUID, waiters: list[_Waiter]) -> None:
        try:
            async with self._statements:
                events = [e for e, _ in waiters]
                stored = await store_inbound_events(self._engine, tenant_id, events)
        except Exception as error:
            if len(waiters) == 1:
                _settle(waiters[0][1], error=error)
                return
            log.warning(
                "webhook batch failed; storing its deliveries one by one",
                tenant_id=str(tenant_id),
                deliveries=len(waiters),
                error=repr(error),
            )
            for waiter in waiters:
                await self._flush_tenant(tenant_id, [waiter])
            return
        for event, future in waiters:
            _settle(future, result=event.id in stored)


def _settle(
    future: asyncio.Future[bool], *, result: bool = False, error: Exception | None = None
) -> None:
    if future.done():  # its caller went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
