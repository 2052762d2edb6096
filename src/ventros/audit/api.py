"""HTTP routes of the audit trail: the tenant's events and each contact's timeline."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.api.pagination import Limit
from ventros.audit import service
from ventros.audit.schemas import EventList, EventRead
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.kernel.errors import RuleViolation
from ventros.kernel.events import DomainEvent
from ventros.platform.event_feed import EventFeed

router = APIRouter(tags=["events"])

EventReader = Annotated[Principal, Depends(authorized(Permission.EVENTS_READ))]
After = Annotated[
    uuid.UUID | None, Query(description="Return events after this event id (exclusive)")
]


def _page(page: service.EventPage) -> EventList:
    items = [EventRead.of(e) for e in page.items]
    next_cursor = str(items[-1].id) if page.has_more and items else None
    return EventList(items=items, next_cursor=next_cursor)


@router.get("/events", response_model=EventList)
async def list_events(
    principal: EventReader,
    uow: Uow,
    after: After = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
) -> EventList:
    """The tenant's domain events (audit trail), oldest first; page with `after`."""
    return _page(await service.list_events(uow, principal, after=after, limit=limit, name=name))


@router.get("/contacts/{contact_id}/timeline", response_model=EventList)
async def contact_timeline(
    contact_id: uuid.UUID,
    principal: EventReader,
    uow: Uow,
    after: After = None,
    limit: Limit = 50,
) -> EventList:
    """Everything that happened to a contact, oldest first."""
    page = await service.contact_timeline(uow, principal, contact_id, after=after, limit=limit)
    return _page(page)


HEARTBEAT_SECONDS = 15
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]


def _resume_point(last_event_id: str | None) -> uuid.UUID | None:
    if not last_event_id:
        return None
    try:
        return uuid.UUID(last_event_id)
    except ValueError as error:
        raise RuleViolation("Last-Event-ID must be an event id", field="Last-Event-ID") from error


async def event_feed(request: Request, container: ContainerDep) -> EventFeed:
    """One feed per API process, started on the first stream and closed at shutdown."""
    feed: EventFeed | None = getattr(request.app.state, "event_feed", None)
    if feed is None:
        url = container.database.app_dsn()
        feed = request.app.state.event_feed = EventFeed(url)
        feed.start()
    return feed


Feed = Annotated[EventFeed, Depends(event_feed)]


# After the server's shutdown began, how long a stream has to end by itself.
SHUTDOWN_GRACE_SECONDS = 1.0


async def _as_sse(
    pages: AsyncIterator[list[DomainEvent]], shutdown: anyio.Event
) -> AsyncIterator[bytes]:
    """The events as SSE until the server shuts down: the stream then ends like any
    response (the client reconnects with Last-Event-ID), so shutdown does not wait. A page
    of events goes out as one write: at a thousand messages a second, a write per event
    cost the API a quarter of its time."""
    stopping = asyncio.ensure_future(shutdown.wait())
    following: asyncio.Future[list[DomainEvent]] | None = None
    try:
        while True:
            following = asyncio.ensure_future(anext(pages))
            await asyncio.wait({following, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not following.done():
                return
            try:
                page = following.result()
            except StopAsyncIteration:
                return
            yield b"".join(_sse(event) for event in page)
    finally:
        for pending in (following, stopping):
            if pending is not None:
                pending.cancel()


def _sse(event: DomainEvent) -> bytes:
    """An event as one SSE frame, encoded once for all the streams that send it together
    (the frame is the same for every reader of the tenant)."""
    now = time.monotonic()
    kept = _frames.get(event.id)
    if kept is not None and kept[0] > now:
        return kept[1]
    if len(_frames) >= FRAMES_KEPT:
        _frames.clear()
    data = json.dumps(EventRead.of(event).model_dump(mode="json"))
    frame = ServerSentEvent(data=data, event=event.name, id=str(event.id)).encode()
    _frames[event.id] = (now + FRAME_SECONDS, frame)
    return frame


# Streams that follow the log together send each event within moments of each other; a
# frame is not kept longer, so that a stream resumed later sends the event as the log has
# it then (an erased contact's events are redacted in place).
FRAME_SECONDS = 2.0
FRAMES_KEPT = 4096
_frames: dict[uuid.UUID, tuple[float, bytes]] = {}


def _event_stream(pages: AsyncIterator[list[DomainEvent]]) -> EventSourceResponse:
    shutdown = anyio.Event()
    return EventSourceResponse(
        _as_sse(pages, shutdown),
        ping=HEARTBEAT_SECONDS,
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )


@router.get("/events/stream", response_class=EventSourceResponse)
async def stream_events(
    principal: EventReader, uow: Uow, feed: Feed, last_event_id: LastEventId = None
) -> EventSourceResponse:
    """Server-Sent Events: every new event of the tenant; Last-Event-ID resumes."""
    pages = service.follow_pages(uow, principal, feed, after=_resume_point(last_event_id))
    return _event_stream(pages)


@router.get("/contacts/{contact_id}/events/stream", response_class=EventSourceResponse)
async def stream_contact_events(
    contact_id: uuid.UUID,
    principal: EventReader,
    uow: Uow,
    feed: Feed,
    last_event_id: LastEventId = None,
) -> EventSourceResponse:
    """Server-Sent Events: every new event of one contact; Last-Event-ID resumes."""
    await service.contact_timeline(uow, principal, contact_id, after=None, limit=1)  # 404 check
    pages = service.follow_pages(
        uow, principal, feed, after=_resume_point(last_event_id), contact_id=contact_id
    )
    return _event_stream(pages)
