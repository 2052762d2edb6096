"""The event JSON of the API contract."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from ventros.kernel.events import DomainEvent


class ActorRead(BaseModel):
    type: Literal["user", "system"]
    id: uuid.UUID | None


class EventRead(BaseModel):
    id: uuid.UUID
    name: str
    occurred_at: datetime
    tenant_id: uuid.UUID
    aggregate_type: str
    aggregate_id: uuid.UUID
    actor: ActorRead
    data: dict[str, Any]

    @classmethod
    def of(cls, event: DomainEvent) -> EventRead:
        return cls(
            id=event.id,
            name=event.name,
            occurred_at=event.occurred_at,
            tenant_id=event.tenant_id,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            actor=ActorRead(type=event.actor.type, id=event.actor.id),
            data=event.payload,
        )


class EventList(BaseModel):
    items: list[EventRead]
    next_cursor: str | None
