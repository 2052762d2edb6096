"""Canned reply use cases: the catalogue (admins and supervisors write, everyone reads)
and filling a reply for a session's contact and the agent who uses it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ventros.contacts import service as contacts
from ventros.conversations import service as conversations
from ventros.identity import service as identity
from ventros.identity.domain import Principal
from ventros.kernel.errors import Conflict, NotFound, RuleViolation
from ventros.kernel.events import Actor
from ventros.media import service as media
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory
from ventros.replies.domain import CannedReply, RenderContext, render
from ventros.replies.repository import CannedReplyRepository
from ventros.routing import service as routes

UNSET = frozenset[str]()


@dataclass(frozen=True)
class ReplyPage:
    items: list[CannedReply]
    next_before: uuid.UUID | None


@dataclass(frozen=True)
class RenderedReply:
    reply: CannedReply
    text: str


def _open(uow: UnitOfWorkFactory, principal: Principal) -> UnitOfWork:
    return uow(principal.tenant_id, Actor.user(principal.user_id))


async def _get(tx: UnitOfWork, reply_id: uuid.UUID) -> CannedReply:
    reply = await CannedReplyRepository(tx).get(reply_id)
    if reply is None:
        raise NotFound("canned reply not found")
    return reply


async def _ensure_unique(tx: UnitOfWork, reply: CannedReply) -> None:
    existing = await CannedReplyRepository(tx).existing_id(reply.shortcut, reply.team_id)
    if existing is not None and existing != reply.id:
        scope = "this team" if reply.team_id else "the tenant"
        raise Conflict(
            f"the shortcut /{reply.shortcut} exists already for {scope}", existing_id=existing
        )


async def _ensure_media(tx: UnitOfWork, media_id: uuid.UUID | None) -> None:
    # A body that names a file the tenant does not have is a bad body, not a missing page.
    if media_id is not None and await media.media_in(tx, media_id) is None:
        raise RuleViolation("no such file: upload it with POST /api/v1/media", field="media_id")


async def _ensure_team(tx: UnitOfWork, team_id: uuid.UUID | None) -> None:
    # A reply scoped to a team nobody has would be listed for no one's team filter.
    if team_id is not None and not await routes.team_exists(tx, team_id):
        raise RuleViolation("unknown team", field="team_id")


async def create_reply(
    uow: UnitOfWorkFactory,
    principal: Principal,
    *,
    shortcut: str,
    text: str,
    team_id: uuid.UUID | None = None,
    media_id: uuid.UUID | None = None,
) -> CannedReply:
    async with _open(uow, principal) as tx:
        reply = CannedReply.create(
            tenant_id=principal.tenant_id,
            shortcut=shortcut,
            text=text,
            team_id=team_id,
            media_id=media_id,
            created_by=principal.user_id,
        )
        await _ensure_team(tx, team_id)
        await _ensure_media(tx, media_id)
        await _ensure_unique(tx, reply)
        await CannedReplyRepository(tx).add(reply)
        await tx.commit()
    return reply


async def update_reply(
    uow: UnitOfWorkFactory,
    principal: Principal,
    reply_id: uuid.UUID,
    *,
    shortcut: str | None = None,
    text: str | None = None,
    team_id: uuid.UUID | None = None,
    media_id: uuid.UUID | None = None,
    clear: frozenset[str] = UNSET,
) -> CannedReply:
    async with _open(uow, principal) as tx:
        reply = await _get(tx, reply_id)
        reply.change(shortcut=shortcut, text=text, team_id=team_id, media_id=media_id, clear=clear)
        await _ensure_team(tx, team_id)
        await _ensure_media(tx, media_id)
        await _ensure_unique(tx, reply)
        await CannedReplyRepository(tx).save(reply)
        await tx.commit()
    return reply


async def delete_reply(uow: UnitOfWorkFactory, principal: Principal, reply_id: uuid.UUID) -> None:
    async with _open(uow, principal) as tx:
        reply = await _get(tx, reply_id)
        reply.delete()
        await CannedReplyRepository(tx).delete(reply)
        await tx.commit()


async def get_reply(
    uow: UnitOfWorkFactory, principal: Principal, reply_id: uuid.UUID
) -> CannedReply:
    async with _open(uow, principal) as tx:
        return await _get(tx, reply_id)


async def list_replies(
    uow: UnitOfWorkFactory,
    principal: Principal,
    *,
    query: str | None = None,
    team_id: uuid.UUID | None = None,
    limit: int = 50,
    before: uuid.UUID | None = None,
) -> ReplyPage:
    """Newest first. `query`: `/obr` (shortcuts starting so) or words (in the shortcut or
    the text, case-insensitive). `team_id`: the tenant's replies and that team's only."""
    async with _open(uow, principal) as tx:
        rows = await CannedReplyRepository(tx).search(
            query=query,
            team_ids=[team_id] if team_id is not None else None,
            limit=limit + 1,
            before=before,
        )
    items = rows[:limit]
    return ReplyPage(items, items[-1].id if len(rows) > limit else None)


async def context_for(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID
) -> RenderContext:
    """The values a reply is filled with in this session: its contact, and the caller."""
    session = await conversations.get_session(uow, principal, session_id)
    agent = await identity.get_user(uow, principal, principal.user_id)
    try:
        contact = await contacts.get_contact(uow, principal, session.contact_id)
    except NotFound:
        # An anonymised or deleted contact: the reply still renders, with blanks.
        return RenderContext(agent_name=agent.name)
    return RenderContext(
        contact_name=contact.name, agent_name=agent.name, custom=dict(contact.custom_fields)
    )


async def render_reply(
    uow: UnitOfWorkFactory, principal: Principal, reply_id: uuid.UUID, session_id: uuid.UUID
) -> RenderedReply:
    reply = await get_reply(uow, principal, reply_id)
    context = await context_for(uow, principal, session_id)
    return RenderedReply(reply, render(reply.text, context))


async def suggest(
    uow: UnitOfWorkFactory, principal: Principal, session_id: uuid.UUID, typed: str, *, limit: int
) -> list[RenderedReply]:
    """The replies whose shortcut starts with what follows the `/` the agent typed,
    alphabetical, filled for this session."""
    page = await list_replies(uow, principal, query="/" + typed.removeprefix("/"), limit=100)
    if not page.items:
        return []
    context = await context_for(uow, principal, session_id)
    chosen = sorted(page.items, key=lambda r: (r.shortcut, r.team_id is not None))[:limit]
    return [RenderedReply(reply, render(reply.text, context)) for reply in chosen]
