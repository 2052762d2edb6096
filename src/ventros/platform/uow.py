"""The unit of work: one transaction, tenant set for RLS, events written to the outbox."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from ventros.kernel.aggregate import AggregateRoot
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.metrics import PROCESS, caller_use_case
from ventros.platform.outbox import write_events

A = TypeVar("A", bound=AggregateRoot)


class UnitOfWork:
    """`async with uow as tx: ...; await tx.commit()` — rolls back unless committed.

    Repositories receive `tx.connection`; aggregates they hand out are registered with
    `tx.track`, so their recorded events reach the outbox in the same transaction.
    """

    def __init__(self, engine: AsyncEngine, tenant_id: uuid.UUID, actor: Actor) -> None:
        self._engine = engine
        self.tenant_id = tenant_id
        self.actor = actor
        self._connection: AsyncConnection | None = None
        self._transaction: AsyncTransaction | None = None
        self._tracked: list[AggregateRoot] = []
        self._tracked_ids: set[int] = set()
        self._events: list[DomainEvent] = []
        self.committed_events: list[DomainEvent] = []
        # Reads worth doing once per transaction: a consumer's batch may hold hundreds of
        # events of one tenant that all need the same rows (e.g. its webhook subscriptions).
        self.memo: dict[str, Any] = {}
        # Named from the service function that opened it: every use case is measured here,
        # once, instead of by a decorator on each (usecase_* metrics).
        self.use_case = caller_use_case()
        self._started = 0.0
        self._committed = False

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._connection

    async def __aenter__(self) -> UnitOfWork:
        self._started = time.perf_counter()
        self._connection = await self._engine.connect()
        self._transaction = await self._connection.begin()
        await self._connection.execute(
            text("SELECT set_config('app.tenant_id', :tenant, true)"),
            {"tenant": str(self.tenant_id)},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        outcome = "error" if exc is not None else "committed" if self._committed else "rolled_back"
        PROCESS.observe_use_case(self.use_case, outcome, time.perf_counter() - self._started, exc)
        try:
            if self._transaction is not None and self._transaction.is_active:
                await self._transaction.rollback()
        finally:
            if self._connection is not None:
                await self._connection.close()
            self._connection = None
            self._transaction = None

    def track(self, aggregate: A) -> A:
        # By identity: a batch may track thousands of aggregates, so no list scans.
        if id(aggregate) not in self._tracked_ids:
            self._tracked_ids.add(id(aggregate))
            self._tracked.append(aggregate)
        return aggregate

    def add_event(self, event: DomainEvent) -> None:
        """An event raised outside an aggregate (for example by a consumer)."""
        self._events.append(event)

    def collect_events(self) -> list[DomainEvent]:
        events = list(self._events)
        self._events.clear()
        for aggregate in self._tracked:
            events.extend(aggregate.pull_events())
        return [self._stamp(e) for e in events]

    def _stamp(self, event: DomainEvent) -> DomainEvent:
        # Aggregates do not know who is acting; the unit of work does.
        if event.actor.type == "system" and self.actor.type == "user":
            return dataclasses.replace(event, actor=self.actor)
        return event

    async def flush_events(self) -> list[DomainEvent]:
        events = self.collect_events()
        await write_events(self.connection, events)
        return events

    async def commit(self) -> None:
        if self._transaction is None:
            raise RuntimeError("unit of work used outside 'async with'")
        events = await self.flush_events()
        await self._transaction.commit()
        self._committed = True
        self.committed_events.extend(events)


UnitOfWorkFactory = Callable[[uuid.UUID, Actor], UnitOfWork]
