"""Typed domain events: a frozen dataclass per event, defined once in its context's
events.py. Its fields are the event's `data` in the event JSON of the API contract,
serialised unchanged (ids as strings, enums as values), and parsed back for consumers,
which then read attributes instead of guessing at dict keys.

    @dataclass(frozen=True)
    class PipelineCreated(Event):
        NAME: ClassVar[str] = "pipeline.created"
        pipeline_id: uuid.UUID
        ...

    pipeline.raise_event(PipelineCreated(...))      # in the aggregate
    created = PipelineCreated.parse(domain_event)   # in a consumer
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import TypeAdapter

from ventros.kernel.events import DomainEvent

_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


@dataclass(frozen=True)
class Event:
    NAME: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        """The event's `data`, JSON-ready."""
        dumped: dict[str, Any] = _adapter(type(self)).dump_python(self, mode="json")
        return dumped

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Self:
        parsed: Self = _adapter(cls).validate_python(payload)
        return parsed

    @classmethod
    def parse(cls, event: DomainEvent) -> Self:
        """The typed form of a stored or delivered event of this name."""
        if event.name != cls.NAME:
            raise ValueError(f"{event.name!r} is not a {cls.NAME!r} event")
        return cls.from_payload(event.payload)


def every_event_type() -> list[type[Event]]:
    """Every typed event defined so far (import the events modules first)."""
    found: list[type[Event]] = []
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
