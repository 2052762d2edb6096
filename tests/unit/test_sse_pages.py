"""A page of events leaves the API as one write that a client reads as separate events."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest

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


async def test_a_frame_is_encoded_once_for_streams_sending_together_and_not_kept_longer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ventros.audit import api

    monkeypatch.setattr(api, "FRAME_SECONDS", 0.2)
    event = DomainEvent("contact.updated", TENANT, "contact", uuid.uuid4(), {"name": "Ana"})
    first = api._sse(event)
    assert api._sse(event) is first  # another stream, moments later
    event.payload["name"] = "[erased]"  # redacted in the log meanwhile
    await asyncio.sleep(0.25)
    later = _parse(api._sse(event).decode())
    assert json.loads(later[0]["data"])["data"]["name"] == "[erased]"
