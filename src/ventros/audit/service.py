"""The audit trail and contact timelines, from the stored domain events."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ventros.audit.repository import EventLog, StreamPosition
from ventros.contacts.service import get_contact, identities_of
from ventros.identity.domain import Principal
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.event_feed import EventFeed
from ventros.platform.uow import UnitOfWorkFactory

FOLLOW_BATCH = 200
# Events held behind an open transaction: looked at again this soon (its commit may
# carry no events, so no notification).
HELD_BACK_RECHECK_SECONDS = 0.1


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


async def contact_history(
    uow: UnitOfWorkFactory,
    principal: Principal,
    contact_id: uuid.UUID,
    *,
    before: uuid.UUID | None,
    limit: int,
) -> EventPage:
    """The contact's timeline newest first (merged contacts' events too), paged back by
    `before`: what a person reading it wants first is what just happened."""
    await get_contact(uow, principal, contact_id)  # 404 for a missing or foreign contact
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        contact_ids = await identities_of(tx, contact_id)
        events = await EventLog(tx).latest(before=before, limit=limit + 1, contact_ids=contact_ids)
    return EventPage(events[:limit], len(events) > limit)


async def follow_pages(
    uow: UnitOfWorkFactory,
    principal: Principal,
    feed: EventFeed,
    *,
    after: uuid.UUID | None,
    contact_id: uuid.UUID | None = None,
    poll_seconds: float = 5.0,
) -> AsyncIterator[list[DomainEvent]]:
    """New events forever, in commit order, a page at a time (what was there when it
    looked; never empty): those after `after` first (a resumed stream), then each one once
    its transaction, and every older one, has ended."""
    actor = Actor.user(principal.user_id)
    async with uow(principal.tenant_id, actor) as tx:
        contact_ids = await identities_of(tx, contact_id) if contact_id else None
        log = EventLog(tx)
        resumed = await log.stream_position_of(after) if after else None
        if resumed is None:
            position, history = await log.stream_start(contact_ids=contact_ids)
        else:
            position, history = resumed, set()
    while True:
        seen = feed.version
        if contact_id is None:
            reads = _shared_reads.setdefault(feed, _SharedReads())
            page, waiting = await reads.page(uow, principal.tenant_id, actor, position, seen)
        else:
            page, waiting = await _read_page(uow, principal.tenant_id, actor, position, contact_id)
        fresh = [event for _, event in page if event.id not in history]
        if page:
            position = page[-1][0]
        if fresh:
            yield fresh
        if len(page) < FOLLOW_BATCH:
            await feed.wait_for_change(seen, HELD_BACK_RECHECK_SECONDS if waiting else poll_seconds)


_Page = tuple[list[tuple[StreamPosition, DomainEvent]], bool]  # events, and held back?


async def _read_page(
    uow: UnitOfWorkFactory,
    tenant_id: uuid.UUID,
    actor: Actor,
    position: StreamPosition,
    contact_id: uuid.UUID | None = None,
) -> _Page:
    async with uow(tenant_id, actor) as tx:
        # Per page: a merge while the stream is open adds the merged contact's events.
        contact_ids = await identities_of(tx, contact_id) if contact_id else None
        log = EventLog(tx)
        page = await log.committed_after(position, limit=FOLLOW_BATCH, contact_ids=contact_ids)
        waiting = not page and await log.held_back(position)
    return page, waiting


class _SharedReads:
    """The page after a position, read once for every stream of the tenant that asks for
    it at the same feed version: a team's open inboxes follow the same log, and after their
    first page they stand at the same position. A page that found events held back is not
    kept (the stream asks again shortly, with no new version); any other is kept until the
    feed moves on, since a stream reads again only after that."""

    def __init__(self) -> None:
        self._pages: dict[tuple[uuid.UUID, StreamPosition], tuple[int, asyncio.Task[_Page]]] = {}

    async def page(
        self,
        uow: UnitOfWorkFactory,
        tenant_id: uuid.UUID,
        actor: Actor,
        position: StreamPosition,
        version: int,
    ) -> _Page:
        key = (tenant_id, position)
        known = self._pages.get(key)
        if known is None or known[0] != version or _not_to_share(known[1]):
            self._forget_older(version)
            read = asyncio.ensure_future(_read_page(uow, tenant_id, actor, position))
            self._pages[key] = known = (version, read)
        # A stream that goes away does not cancel the read the others wait for.
        return await asyncio.shield(known[1])

    def _forget_older(self, version: int) -> None:
        for key, (seen, read) in list(self._pages.items()):
            if seen != version and read.done():
                del self._pages[key]


def _not_to_share(read: asyncio.Task[_Page]) -> bool:
    """A finished read that failed, or found events held back, is not to be shared."""
    if not read.done():
        return False
    return read.cancelled() or read.exception() is not None or read.result()[1]


_shared_reads: weakref.WeakKeyDictionary[EventFeed, _SharedReads] = weakref.WeakKeyDictionary()
