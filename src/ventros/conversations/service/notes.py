"""Private notes: messages of type `note` that the team writes inside a session.

A note is stored like a message (so it sits in the conversation, in order) but its
direction is `internal`: it raises `session.note_added`, never `message.sending`, so the
WhatsApp sender never sees it. `@handle` (the part of a user's email before the `@`)
mentions a colleague: `agent.mentioned` is raised for them and the session shows in
their inbox's `mentions` view. Any user who may send messages may write a note in any
session of the tenant, open or closed (a supervisor's hint, a colleague's answer)."""

from __future__ import annotations

import uuid

from ventros.conversations.domain import Message, handle_of, mention_handles
from ventros.conversations.repository import MessageRepository, SessionRepository
from ventros.conversations.repository.notes import add_mentions
from ventros.identity import service as identity
from ventros.identity.domain import Principal
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotFound
from ventros.kernel.events import Actor
from ventros.platform.uow import UnitOfWorkFactory


async def _mentioned(uow: UnitOfWorkFactory, principal: Principal, text: str) -> list[uuid.UUID]:
    """The active users of the tenant the text @mentions; unknown handles are just text."""
    handles = mention_handles(text)
    if not handles:
        return []
    users = await identity.list_users(uow, principal)
    by_handle: dict[str, list[uuid.UUID]] = {}
    for user in users:
        if user.active:
            by_handle.setdefault(handle_of(user.email), []).append(user.id)
    return list(dict.fromkeys(u for handle in handles for u in by_handle.get(handle, [])))


async def add_note(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID, text: str
) -> Message:
    mentioned = await _mentioned(uow, principal, text)
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        session = await SessionRepository(tx).get(session_id)
        if session is None:
            raise NotFound("session not found")
        at = utcnow()
        note = Message.note(
            session, author_id=principal.user_id, text=text, mentioned=mentioned, at=at
        )
        await MessageRepository(tx).add(note)
        await add_mentions(
            tx, message_id=note.id, session_id=session.id, agent_ids=mentioned, at=at
        )
        await tx.commit()
    return note
