"""The inbox and conversation reads of the web app: pages of sessions with their unread
counts, a conversation's latest messages, and marking a conversation read."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from ventros.conversations.domain import Message, Session
from ventros.conversations.repository import SessionRepository
from ventros.conversations.repository.inbox import (
    InboxItem,
    InboxQuery,
    inbox_item,
    inbox_page,
    latest_messages,
    mark_read,
)
from ventros.identity.domain import Principal
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotFound, RuleViolation
from ventros.kernel.events import Actor
from ventros.platform.uow import UnitOfWorkFactory

VIEWS = ("mine", "unassigned", "all", "closed", "mentions")

__all__ = ["VIEWS", "InboxItem", "InboxPage", "list_inbox", "open_conversation"]


@dataclass(frozen=True)
class InboxPage:
    items: list[InboxItem]
    next_after: tuple[datetime, uuid.UUID] | None


@dataclass(frozen=True)
class Conversation:
    session: Session
    messages: list[Message]
    older_before: uuid.UUID | None  # the id to page back from, None at the start


async def list_inbox(
    uow: UnitOfWorkFactory,
    principal: Principal,
    *,
    view: str,
    search: str | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
    label_id: uuid.UUID | None = None,
) -> InboxPage:
    """`mentions`: the sessions where a private note @mentions the caller, open or closed.
    `label_id`: only the sessions with that label."""
    if view not in VIEWS:
        raise RuleViolation(f"unknown inbox view {view!r}", field="view")
    query = InboxQuery(
        view=view,
        user_id=principal.user_id,
        search=search or None,
        after=after,
        label_id=label_id,
    )
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        rows = await inbox_page(tx, query, limit=limit + 1)
    items = rows[:limit]
    more = len(rows) > limit
    return InboxPage(items, (items[-1].sort_at, items[-1].session_id) if more else None)


async def get_inbox_item(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID
) -> InboxItem | None:
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        return await inbox_item(tx, session_id, principal.user_id)


async def open_conversation(
    uow: UnitOfWorkFactory,
    principal: Principal,
    session_id: uuid.UUID,
    *,
    limit: int,
    before: uuid.UUID | None = None,
    mark_as_read: bool = True,
) -> Conversation:
    """The session and its latest messages (or those before `before`); opening it clears
    its unread count."""
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        session = await SessionRepository(tx).get(session_id)
        if session is None:
            raise NotFound("session not found")
        page = await latest_messages(tx, session_id, limit=limit + 1, before=before)
        if mark_as_read and before is None:
            await mark_read(tx, session_id, utcnow())
            await tx.commit()
    more = len(page) > limit
    shown = page[1:] if more else page
    return Conversation(session, shown, shown[0].id if more and shown else None)
