"""Aggregate roots record the events their changes raise; the unit of work collects them."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, ClassVar

from ventros.kernel.events import Actor, DomainEvent
from ventros.kernel.tracing import current_traceparent
from ventros.kernel.typed_events import Event


class AggregateRoot:
    """Base of aggregates. Works with plain classes and (non-slots) dataclasses alike."""

    aggregate_type: ClassVar[str] = "aggregate"

    id: uuid.UUID
    tenant_id: uuid.UUID

    def _events(self) -> list[DomainEvent]:
        # Created lazily so dataclass subclasses need no __post_init__.
        events: list[DomainEvent] = self.__dict__.setdefault("_pending_events", [])
        return events

    def record(self, name: str, payload: dict[str, Any], *, actor: Actor | None = None) -> None:
        self._events().append(
            DomainEvent(
                name=name,
                tenant_id=self.tenant_id,
                aggregate_type=self.aggregate_type,
                aggregate_id=self.id,
                payload=payload,
                actor=actor or Actor.system(),
            )
        )

    def raise_event(self, event: Event, *, actor: Actor | None = None) -> None:
        """Record a typed event (kernel.typed_events): its name and its data."""
        self.record(event.NAME, event.payload(), actor=actor)

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._events())

    def continue_trace(self) -> None:
        """Events recorded ahead of the work they belong to (a batch creates its new
        contacts before it handles their messages) join the trace of that work, now
        running."""
        traceparent = current_traceparent()
        events = self._events()
        events[:] = [dataclasses.replace(e, traceparent=traceparent) for e in events]

    def pull_events(self) -> list[DomainEvent]:
        events = self._events()
        pulled = list(events)
        events.clear()
        return pulled
