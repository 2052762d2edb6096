"""HTTP routes of sessions and messages: reading, sending, scheduling."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field

from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from ventros.conversations import scheduling, service
from ventros.conversations.domain import MessageStatus, SessionStatus
from ventros.conversations.ports import MESSAGE_VERDICTS, MessageVerdict
from ventros.conversations.repository import SessionFilter
from ventros.conversations.schemas import MessageRead, SessionRead
from ventros.conversations.service import labels as label_catalogue
from ventros.conversations.service import sending
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.platform.crypto import SecretBox
from ventros.platform.ports import PortMissing
from ventros.platform.uow import UnitOfWorkFactory
from ventros.webhooks import ssrf

router = APIRouter(tags=["conversations"])

SessionReader = Annotated[Principal, Depends(authorized(Permission.SESSIONS_READ))]
MessageReader = Annotated[Principal, Depends(authorized(Permission.MESSAGES_READ))]
MessageSender = Annotated[Principal, Depends(authorized(Permission.MESSAGES_SEND))]


@router.get("/sessions", response_model=Page[SessionRead])
async def list_sessions(
    principal: SessionReader,
    uow: Uow,
    status: SessionStatus | None = None,
    agent_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    channel_id: uuid.UUID | None = None,
    needs_attention: bool | None = None,
    label: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SessionRead]:
    """Sessions, newest first, filtered by status, agent, contact, channel, label (a
    label id; an unknown one → 404), team, or whether the customer's mood flagged them
    (`needs_attention`)."""
    if label is not None:
        await label_catalogue.get_label(uow, principal, label)
    page = await service.list_sessions(
        uow,
        principal,
        SessionFilter(
            status=status,
            agent_id=agent_id,
            contact_id=contact_id,
            channel_id=channel_id,
            needs_attention=needs_attention,
            label_id=label,
            team_id=team_id,
        ),
        limit=limit,
        before=decode_cursor(cursor),
    )
    return Page(
        items=[SessionRead.of(s) for s in page.items], next_cursor=encode_cursor(page.next_before)
    )


@router.get("/teams/{team_id}/queue", response_model=list[SessionRead])
async def team_queue(team_id: uuid.UUID, principal: SessionReader, uow: Uow) -> list[SessionRead]:
    """The team's open sessions nobody holds yet, oldest first (queued, or waiting for the
    team's opening hours)."""
    return [SessionRead.of(s) for s in await service.team_queue(uow, principal, team_id)]


@router.get("/sessions/{session_id}", response_model=SessionRead)
async def get_session(session_id: uuid.UUID, principal: SessionReader, uow: Uow) -> SessionRead:
    """One session."""
    return SessionRead.of(await service.get_session(uow, principal, session_id))


async def _verdicts(
    container: ContainerDep, uow: UnitOfWorkFactory, principal: Principal, ids: list[uuid.UUID]
) -> dict[uuid.UUID, MessageVerdict]:
    """What the analysis context said of these messages (nothing where it is not wired)."""
    try:
        verdicts = container.ports.get(MESSAGE_VERDICTS)
    except PortMissing:
        return {}
    return await verdicts(uow, principal.tenant_id, ids)


@router.get("/sessions/{session_id}/messages", response_model=Page[MessageRead])
async def list_session_messages(
    session_id: uuid.UUID,
    principal: MessageReader,
    uow: Uow,
    container: ContainerDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MessageRead]:
    """A session's messages, oldest first (by the time they were written)."""
    page = await service.list_session_messages(
        uow, principal, session_id, limit=limit, after=decode_cursor(cursor)
    )
    analysed = await _verdicts(container, uow, principal, [m.id for m in page.items])
    return Page(
        items=[MessageRead.of(m, analysed.get(m.id)) for m in page.items],
        next_cursor=encode_cursor(page.next_after),
    )


@router.get("/messages", response_model=Page[MessageRead])
async def list_messages(
    principal: MessageReader,
    uow: Uow,
    status: MessageStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[MessageRead]:
    """Messages, newest first; `status=scheduled`: the scheduled ones still waiting."""
    page = await service.list_messages(
        uow, principal, status=status, limit=limit, before=decode_cursor(cursor)
    )
    return Page(
        items=[MessageRead.of(m) for m in page.items], next_cursor=encode_cursor(page.next_before)
    )


@router.get("/messages/{message_id}", response_model=MessageRead)
async def get_message(
    message_id: uuid.UUID, principal: MessageReader, uow: Uow, container: ContainerDep
) -> MessageRead:
    """One message."""
    message = await service.get_message(uow, principal, message_id)
    analysed = await _verdicts(container, uow, principal, [message.id])
    return MessageRead.of(message, analysed.get(message.id))


# --------------------------------------------------------------------------- outbound


class MessageSend(BaseModel):
    contact_id: uuid.UUID
    channel_id: uuid.UUID | None = None
    type: str = Field(max_length=20)
    text: str | None = Field(default=None, max_length=65_536)
    media_url: str | None = Field(default=None, max_length=4096)
    caption: str | None = Field(default=None, max_length=4096)
    filename: str | None = Field(default=None, max_length=255)
    latitude: float | None = None
    longitude: float | None = None
    title: str | None = Field(default=None, max_length=1024)
    vcard: str | None = Field(default=None, max_length=65_536)
    media_id: uuid.UUID | None = Field(
        default=None, description="a file uploaded with POST /api/v1/media (instead of media_url)"
    )

    def command(self) -> sending.SendMessage:
        return sending.SendMessage(**self.model_dump(exclude={"send_at"}))


class MessageSchedule(MessageSend):
    send_at: datetime


class MessageAccepted(BaseModel):
    id: uuid.UUID
    status: str


def _box(container: ContainerDep) -> SecretBox:
    return container.secret_box


async def _media_reachable(body: MessageSend, container: ContainerDep) -> None:
    # WAHA fetches media_url from where it runs: the same rule as the channel's base_url.
    if body.media_url:
        await ssrf.ensure_allowed(
            body.media_url.strip(),
            allow_private=container.settings.waha_allow_private,
            field="media_url",
            allowed_by="VENTROS_WAHA_ALLOW_PRIVATE",
        )


@router.post("/messages/send", status_code=status.HTTP_202_ACCEPTED, response_model=MessageAccepted)
async def send_message(
    body: MessageSend, principal: MessageSender, uow: Uow, container: ContainerDep
) -> MessageAccepted:
    """Send a WhatsApp message: stored `pending`, then sent by the WhatsApp sender."""
    await _media_reachable(body, container)
    message = await sending.send_message(uow, principal, _box(container), body.command())
    return MessageAccepted(id=message.id, status=message.status.value)


@router.post(
    "/messages/schedule", status_code=status.HTTP_202_ACCEPTED, response_model=MessageAccepted
)
async def schedule_message(
    body: MessageSchedule, principal: MessageSender, uow: Uow, container: ContainerDep
) -> MessageAccepted:
    """Send a message at `send_at`: it is a message `scheduled` until then (GET
    /messages/{id}), then `pending` and `sent`, or `failed` with the reason."""
    await _media_reachable(body, container)
    message = await scheduling.schedule_message(
        uow,
        principal,
        _box(container),
        body.command(),
        send_at=body.send_at,
        temporal=container.temporal,
    )
    return MessageAccepted(id=message.id, status=message.status.value)


@router.delete("/messages/scheduled/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
async def cancel_scheduled_message(
    message_id: uuid.UUID, principal: MessageSender, uow: Uow, container: ContainerDep
) -> None:
    """Cancel a scheduled message before it is sent (the message is removed)."""
    await scheduling.cancel_message(uow, principal, message_id, temporal=container.temporal)
