"""HTTP routes of the audit trail: the tenant's events and each contact's timeline."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ventros.api.deps import Uow, authorized
from ventros.api.pagination import Limit
from ventros.audit import service
from ventros.audit.schemas import EventList, EventRead
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission

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
