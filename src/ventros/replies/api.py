"""HTTP routes of canned replies: the catalogue, and a reply filled for a session."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from ventros.api.deps import Uow, authorized
from ventros.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.replies import service
from ventros.replies.schemas import (
    CannedReplyCreate,
    CannedReplyRead,
    CannedReplyRendered,
    CannedReplyUpdate,
)

router = APIRouter(tags=["canned replies"])

Reader = Annotated[Principal, Depends(authorized(Permission.MESSAGES_READ))]
Writer = Annotated[Principal, Depends(authorized(Permission.REPLIES_MANAGE))]
Sender = Annotated[Principal, Depends(authorized(Permission.MESSAGES_SEND))]


@router.post("/canned-replies", status_code=status.HTTP_201_CREATED, response_model=CannedReplyRead)
async def create_canned_reply(
    body: CannedReplyCreate, principal: Writer, uow: Uow
) -> CannedReplyRead:
    """Create a canned reply (admins and supervisors); a shortcut taken in its scope → 409."""
    reply = await service.create_reply(
        uow,
        principal,
        shortcut=body.shortcut,
        text=body.text,
        team_id=body.team_id,
        media_id=body.media_id,
    )
    return CannedReplyRead.of(reply)


@router.get("/canned-replies", response_model=Page[CannedReplyRead])
async def list_canned_replies(
    principal: Reader,
    uow: Uow,
    q: Annotated[str | None, Query(max_length=100)] = None,
    team_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[CannedReplyRead]:
    """Canned replies, newest first; `q=/obr` by shortcut start, `q=words` by words."""
    page = await service.list_replies(
        uow, principal, query=q, team_id=team_id, limit=limit, before=decode_cursor(cursor)
    )
    return Page(
        items=[CannedReplyRead.of(r) for r in page.items],
        next_cursor=encode_cursor(page.next_before),
    )


@router.get("/canned-replies/{reply_id}", response_model=CannedReplyRead)
async def get_canned_reply(reply_id: uuid.UUID, principal: Reader, uow: Uow) -> CannedReplyRead:
    """One canned reply."""
    return CannedReplyRead.of(await service.get_reply(uow, principal, reply_id))


@router.patch("/canned-replies/{reply_id}", response_model=CannedReplyRead)
async def update_canned_reply(
    reply_id: uuid.UUID, body: CannedReplyUpdate, principal: Writer, uow: Uow
) -> CannedReplyRead:
    """Change a canned reply; `team_id` or `media_id` null clears it."""
    given = body.model_fields_set
    reply = await service.update_reply(
        uow,
        principal,
        reply_id,
        shortcut=body.shortcut,
        text=body.text,
        team_id=body.team_id,
        media_id=body.media_id,
        clear=frozenset(
            name
            for name in ("team_id", "media_id")
            if name in given and getattr(body, name) is None
        ),
    )
    return CannedReplyRead.of(reply)


@router.delete("/canned-replies/{reply_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_canned_reply(reply_id: uuid.UUID, principal: Writer, uow: Uow) -> None:
    """Delete a canned reply."""
    await service.delete_reply(uow, principal, reply_id)


@router.get("/canned-replies/{reply_id}/render", response_model=CannedReplyRendered)
async def render_canned_reply(
    reply_id: uuid.UUID, session_id: uuid.UUID, principal: Sender, uow: Uow
) -> CannedReplyRendered:
    """The reply filled for the session's contact and the caller (`?session_id=`): a value
    the contact lacks renders empty, never as `{{...}}`."""
    rendered = await service.render_reply(uow, principal, reply_id, session_id)
    return CannedReplyRendered(
        id=rendered.reply.id,
        shortcut=rendered.reply.shortcut,
        text=rendered.text,
        media_id=rendered.reply.media_id,
    )
