"""A page of events leaves the API as one write that a client reads as separate events."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import anyio

from ventros.audit.api import _as_sse
from ventros.kernel.events import DomainEvent

TENANT = uuid.uuid4()


def _event(n: int) -> DomainEvent:
    return DomainEvent("message.received", TENANT, "message", uuid.uuid4(), {"n": n})


async def _pages(*pages: list[DomainEvent]) -> AsyncIterator[list[DomainEvent]]:
    for page in pages:
        yield page


def _parse(stream: str) -> list[dict[str, str]]:
    """The events an EventSource would dispatch (blank-line separated blocks)."""
    found = []
    for block in stream.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields:
            found.append(fields)
    return found


async def test_a_page_is_one_chunk_of_separate_events_in_order() -> None:
    first, second = [_event(1), _event(2), _event(3)], [_event(4)]
    chunks = [c async for c in _as_sse(_pages(first, second), anyio.Event())]
    assert len(chunks) == 2
    events = _parse(b"".join(chunks).decode())
    assert [e["id"] for e in events] == [str(e.id) for e in first + second]
    assert {e["event"] for e in events} == {"message.received"}
    assert [json.loads(e["data"])["data"]["n"] for e in events] == [1, 2, 3, 4]
