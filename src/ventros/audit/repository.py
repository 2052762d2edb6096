"""Reads of the permanent event log (written by the unit of work)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, select

from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.outbox import domain_events
from ventros.platform.uow import UnitOfWork


def _event(row: Row[Any]) -> DomainEvent:
    return DomainEvent(
        id=row.id,
        name=row.name,
        tenant_id=row.tenant_id,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        occurred_at=row.occurred_at,
        actor=Actor(row.actor_type, row.actor_id),
        payload=dict(row.data),
        schema_version=row.schema_version,
        traceparent=None,  # read back from the log: not in a trace of ours
    )


class EventLog:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def after(
        self,
        *,
        after: uuid.UUID | None,
        limit: int,
        name: str | None = None,
        contact_ids: list[uuid.UUID] | None = None,
    ) -> list[DomainEvent]:
        """Events oldest first, strictly after `after` (ids are time-ordered UUIDv7)."""
        query = select(domain_events).where(domain_events.c.tenant_id == self._uow.tenant_id)
        if after is not None:
            query = query.where(domain_events.c.id > after)
        if name is not None:
            query = query.where(domain_events.c.name == name)
        if contact_ids is not None:
            query = query.where(domain_events.c.contact_id.in_(contact_ids))
        rows = await self._uow.connection.execute(query.order_by(domain_events.c.id).limit(limit))
        return [_event(row) for row in rows]

    async def latest_id(self, *, contact_ids: list[uuid.UUID] | None = None) -> uuid.UUID | None:
        query = select(domain_events.c.id).where(domain_events.c.tenant_id == self._uow.tenant_id)
        if contact_ids is not None:
            query = query.where(domain_events.c.contact_id.in_(contact_ids))
        result = await self._uow.connection.execute(
            query.order_by(domain_events.c.id.desc()).limit(1)
        )
        latest: uuid.UUID | None = result.scalar()
        return latest
