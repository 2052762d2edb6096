"""The audit trail and contact timelines, from the stored domain events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ventros.audit.repository import EventLog
from ventros.contacts.service import get_contact, identities_of
from ventros.identity.domain import Principal
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.event_feed import EventFeed
from ventros.platform.uow import UnitOfWorkFactory

FOLLOW_BATCH = 200


@dataclass(frozen=True)
class EventPage:
    items: list[DomainEvent]
    has_more: bool


async def list_events(
    uow: UnitOfWorkFactory,
    principal: Principal,
    *,
    after: uuid.UUID | None,
    limit: int,
    name: str | None = None,
    contact_id: uuid.UUID | None = None,
) -> EventPage:
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        contact_ids = await identities_of(tx, contact_id) if contact_id else None
        events = await EventLog(tx).after(
            after=after, limit=limit + 1, name=name, contact_ids=contact_ids
        )
    return EventPage(events[:limit], len(events) > limit)


async def contact_timeline(
    uow: UnitOfWorkFactory,
    principal: Principal,
    contact_id: uuid.UUID,
    *,
    after: uuid.UUID | None,
    limit: int,
) -> EventPage:
    """The contact's events, including those of contacts merged into it."""
    await get_contact(uow, principal, contact_id)  # 404 for a missing or foreign contact
    return await list_events(uow, principal, after=after, limit=limit, contact_id=contact_id)


async def follow(
    uow: UnitOfWorkFactory,
    principal: Principal,
    feed: EventFeed,
    *,
    after: uuid.UUID | None,
    contact_id: uuid.UUID | None = None,
    poll_seconds: float = 5.0,
) -> AsyncIterator[DomainEvent]:
    """New events forever: those after `after` first, then each one as it is committed."""
    if after is None:
        after = await _latest_id(uow, principal, contact_id)
    while True:
        seen = feed.version
        page = await list_events(
            uow, principal, after=after, limit=FOLLOW_BATCH, contact_id=contact_id
        )
        for event in page.items:
            yield event
            after = event.id
        if not page.has_more:
            await feed.wait_for_change(seen, poll_seconds)


async def _latest_id(
    uow: UnitOfWorkFactory, principal: Principal, contact_id: uuid.UUID | None
) -> uuid.UUID | None:
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        contact_ids = await identities_of(tx, contact_id) if contact_id else None
        return await EventLog(tx).latest_id(contact_ids=contact_ids)
