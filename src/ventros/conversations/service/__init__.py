"""Conversations use cases: reading sessions and messages, and closing a deleted channel's
sessions. The WhatsApp ingest is in `ingest.py`, its batched writes in `batch.py`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from ventros.conversations import events
from ventros.conversations.domain import (
    CLOSE_CHANNEL_DELETED,
    Message,
    MessageStatus,
    Session,
)
from ventros.conversations.repository import (
    MessageRepository,
    SessionFilter,
    SessionRepository,
    messages,
)
from ventros.identity.domain import Principal
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class SessionPage:
    items: list[Session]
    next_before: uuid.UUID | None


@dataclass(frozen=True)
class MessagePage:
    items: list[Message]
    next_after: uuid.UUID | None


@dataclass(frozen=True)
class MessageList:
    items: list[Message]
    next_before: uuid.UUID | None


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


async def _get_session(tx: UnitOfWork, session_id: uuid.UUID) -> Session:
    session = await SessionRepository(tx).get(session_id)
    if session is None:
        raise NotFound("session not found")
    return session


async def list_sessions(
    uow: UnitOfWorkFactory,
    principal: Principal,
    filters: SessionFilter,
    *,
    limit: int,
    before: uuid.UUID | None = None,
) -> SessionPage:
    async with _open(uow, principal) as tx:
        rows = await SessionRepository(tx).list(filters, limit=limit + 1, before=before)
    items = rows[:limit]
    return SessionPage(items, items[-1].id if len(rows) > limit else None)


async def team_queue(
    uow: UnitOfWorkFactory, principal: Principal, team_id: uuid.UUID
) -> list[Session]:
    """A team's waiting sessions, oldest first (404 for a team that is not the tenant's)."""
    from ventros.routing import service as routes

    async with _open(uow, principal) as tx:
        if await routes.team_members(tx, team_id) is None:
            raise NotFound("team not found")
        return await SessionRepository(tx).waiting_of_team(team_id)


async def get_session(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID
) -> Session:
    async with _open(uow, principal) as tx:
        return await _get_session(tx, session_id)


async def list_session_messages(
    uow: UnitOfWorkFactory,
    principal: Principal,
    session_id: uuid.UUID,
    *,
    limit: int,
    after: uuid.UUID | None = None,
) -> MessagePage:
    async with _open(uow, principal) as tx:
        await _get_session(tx, session_id)
        rows = await MessageRepository(tx).list_for_session(
            session_id, limit=limit + 1, after=after
        )
    items = rows[:limit]
    return MessagePage(items, items[-1].id if len(rows) > limit else None)


async def list_messages(
    uow: UnitOfWorkFactory,
    principal: Principal,
    *,
    status: MessageStatus | None,
    limit: int,
    before: uuid.UUID | None = None,
) -> MessageList:
    """Messages newest first, by status (e.g. the `scheduled` ones still waiting)."""
    async with _open(uow, principal) as tx:
        rows = await MessageRepository(tx).list_by_status(
            status=status, limit=limit + 1, before=before
        )
    items = rows[:limit]
    return MessageList(items, items[-1].id if len(rows) > limit else None)


async def get_message(
    uow: UnitOfWorkFactory, principal: Principal, message_id: uuid.UUID
) -> Message:
    async with _open(uow, principal) as tx:
        message = await MessageRepository(tx).get(message_id)
    if message is None:
        raise NotFound("message not found")
    return message


# --------------------------------------------------------------------------- for other contexts


async def close_channel_sessions(tx: UnitOfWork, channel_id: uuid.UUID) -> int:
    """Closes the open sessions of a deleted channel (reason `channel_deleted`)."""
    sessions = SessionRepository(tx)
    closed = 0
    for session in await sessions.open_for_channel(channel_id):
        session.close(CLOSE_CHANNEL_DELETED)
        await sessions.save(session)
        closed += 1
    return closed


async def message_media(tx: UnitOfWork, message_id: uuid.UUID) -> dict[str, Any] | None:
    """The message's `media` as stored now (None when the message or its media is gone)."""
    found = (
        await tx.connection.execute(select(messages.c.media).where(messages.c.id == message_id))
    ).scalar()
    return dict(found) if isinstance(found, dict) else None


async def replace_message_media(
    tx: UnitOfWork, message_id: uuid.UUID, media: dict[str, Any]
) -> None:
    """Points the message's media somewhere else (Ventros's copy, or nowhere with a reason)
    and says so with `message.media_updated`."""
    row = (
        await tx.connection.execute(
            update(messages)
            .where(messages.c.id == message_id)
            .values(media=media)
            .returning(messages.c.session_id, messages.c.contact_id, messages.c.channel_id)
        )
    ).first()
    if row is None:
        return
    tx.add_event(
        DomainEvent(
            name=events.MESSAGE_MEDIA_UPDATED,
            tenant_id=tx.tenant_id,
            aggregate_type="message",
            aggregate_id=message_id,
            payload={
                "message_id": str(message_id),
                "session_id": str(row.session_id),
                "contact_id": str(row.contact_id),
                "channel_id": str(row.channel_id),
                "media": media,
            },
        )
    )
