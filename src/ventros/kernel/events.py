"""Domain events: facts in the past tense, carried as primitives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ventros.kernel.clock import utcnow
from ventros.kernel.ids import new_id
from ventros.kernel.tracing import current_traceparent

ActorType = Literal["user", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    type: ActorType
    id: uuid.UUID | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls("system", None)

    @classmethod
    def user(cls, user_id: uuid.UUID) -> Actor:
        return cls("user", user_id)


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One fact about one aggregate of one tenant. `payload` holds JSON-ready primitives."""

    name: str
    tenant_id: uuid.UUID
    aggregate_type: str
    aggregate_id: uuid.UUID
    payload: dict[str, Any]
    actor: Actor = field(default_factory=Actor.system)
    id: uuid.UUID = field(default_factory=new_id)
    occurred_at: datetime = field(default_factory=utcnow)
    schema_version: int = 1
    # The trace it was recorded in (W3C traceparent): operational, not part of the fact.
    traceparent: str | None = field(default_factory=current_traceparent, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The event JSON of the API contract (timelines, SSE, webhooks)."""
        return {
            "id": str(self.id),
            "name": self.name,
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "tenant_id": str(self.tenant_id),
            "aggregate_type": self.aggregate_type,
            "aggregate_id": str(self.aggregate_id),
            "actor": {"type": self.actor.type, "id": str(self.actor.id) if self.actor.id else None},
            "data": self.payload,
            "schema_version": self.schema_version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DomainEvent:
        actor = data.get("actor") or {}
        actor_id = actor.get("id")
        return cls(
            id=uuid.UUID(data["id"]),
            name=data["name"],
            occurred_at=datetime.fromisoformat(data["occurred_at"].replace("Z", "+00:00")),
            tenant_id=uuid.UUID(data["tenant_id"]),
            aggregate_type=data["aggregate_type"],
            aggregate_id=uuid.UUID(data["aggregate_id"]),
            actor=Actor(actor.get("type", "system"), uuid.UUID(actor_id) if actor_id else None),
            payload=data.get("data") or {},
            schema_version=int(data.get("schema_version", 1)),
            traceparent=data.get("traceparent"),
        )
