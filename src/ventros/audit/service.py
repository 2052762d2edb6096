"""The audit trail and contact timelines, from the stored domain events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ventros.audit.repository import EventLog
from ventros.contacts.service import get_contact
from ventros.identity.domain import Principal
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.uow import UnitOfWorkFactory


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
        events = await EventLog(tx).after(
            after=after, limit=limit + 1, name=name, contact_id=contact_id
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
    await get_contact(uow, principal, contact_id)  # 404 for a missing or foreign contact
    return await list_events(uow, principal, after=after, limit=limit, contact_id=contact_id)
