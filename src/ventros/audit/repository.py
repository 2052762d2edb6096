"""Reads of the permanent event log (written by the unit of work)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Row, literal_column, select, tuple_
from sqlalchemy.sql.elements import ColumnClause

from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.outbox import HORIZON_SQL, domain_events
from ventros.platform.uow import UnitOfWork

# Where a stream stands, in the order it sends: (transaction id, event id).
StreamPosition = tuple[int, uuid.UUID]
_BEFORE_ANY = uuid.UUID(int=0)
_HORIZON: ColumnClause[int] = literal_column(f"(({HORIZON_SQL})::text::bigint)", type_=BigInteger)


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

    async def latest(
        self, *, before: uuid.UUID | None, limit: int, contact_ids: list[uuid.UUID]
    ) -> list[DomainEvent]:
        """A contact's events newest first, strictly before `before` (a timeline's pages)."""
        query = select(domain_events).where(
            domain_events.c.tenant_id == self._uow.tenant_id,
            domain_events.c.contact_id.in_(contact_ids),
        )
        if before is not None:
            query = query.where(domain_events.c.id < before)
        rows = await self._uow.connection.execute(
            query.order_by(domain_events.c.id.desc()).limit(limit)
        )
        return [_event(row) for row in rows]

    async def stream_start(
        self, *, contact_ids: list[uuid.UUID] | None = None
    ) -> tuple[StreamPosition, set[uuid.UUID]]:
        """Where a new stream starts (the commit horizon now), and the events already
        committed beyond it, which are history to this stream, not news."""
        horizon: int = (await self._uow.connection.execute(select(_HORIZON))).scalar_one()
        query = select(domain_events.c.id).where(
            domain_events.c.tenant_id == self._uow.tenant_id, domain_events.c.txid >= horizon
        )
        if contact_ids is not None:
            query = query.where(domain_events.c.contact_id.in_(contact_ids))
        seen = set((await self._uow.connection.execute(query)).scalars())
        return (horizon, _BEFORE_ANY), seen

    async def stream_position_of(self, event_id: uuid.UUID) -> StreamPosition | None:
        query = select(domain_events.c.txid).where(
            domain_events.c.tenant_id == self._uow.tenant_id, domain_events.c.id == event_id
        )
        txid: int | None = (await self._uow.connection.execute(query)).scalar()
        return None if txid is None else (txid, event_id)

    async def held_back(self, position: StreamPosition) -> bool:
        """Whether events past `position` are committed but wait behind an older open
        transaction (they are sent once it ends, which may raise no notification)."""
        query = select(domain_events.c.id).where(
            domain_events.c.tenant_id == self._uow.tenant_id,
            domain_events.c.txid >= position[0],
            tuple_(domain_events.c.txid, domain_events.c.id) > tuple_(*position),
        )
        return (await self._uow.connection.execute(query.limit(1))).first() is not None

    async def committed_after(
        self,
        position: StreamPosition,
        *,
        limit: int,
        contact_ids: list[uuid.UUID] | None = None,
    ) -> list[tuple[StreamPosition, DomainEvent]]:
        """Events past `position` whose transactions are below the commit horizon: every
        transaction that could still add an event before them has ended, so a stream that
        moves on never skips one (as following ids would, when commits come out of order)."""
        query = select(domain_events).where(
            domain_events.c.tenant_id == self._uow.tenant_id,
            domain_events.c.txid >= position[0],
            tuple_(domain_events.c.txid, domain_events.c.id) > tuple_(*position),
            domain_events.c.txid < _HORIZON,
        )
        if contact_ids is not None:
            query = query.where(domain_events.c.contact_id.in_(contact_ids))
        rows = await self._uow.connection.execute(
            query.order_by(domain_events.c.txid, domain_events.c.id).limit(limit)
        )
        return [((row.txid, row.id), _event(row)) for row in rows]
