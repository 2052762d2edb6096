"""HTTP routes of channels, and WAHA's inbound webhook (at the root, no JWT: HMAC-signed)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.responses import JSONResponse

from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.api.errors import problem
from ventros.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from ventros.channels import service
from ventros.channels.schemas import ChannelCreate, ChannelRead, ChannelUpdate, WebhookAccepted
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.platform.crypto import SecretBox

router = APIRouter(prefix="/channels", tags=["channels"])
webhook_router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Reader = Annotated[Principal, Depends(authorized(Permission.CHANNELS_READ))]
Manager = Annotated[Principal, Depends(authorized(Permission.CHANNELS_MANAGE))]


# Async on purpose: a sync dependency runs in the thread pool, a hop per request.
async def get_secret_box(request: Request, container: ContainerDep) -> SecretBox:
    box: SecretBox | None = getattr(request.app.state, "secret_box", None)
    if box is None:
        box = SecretBox.from_secret(container.settings.resolved_secret_key())
        request.app.state.secret_box = box
    return box


Box = Annotated[SecretBox, Depends(get_secret_box)]


async def get_webhook_cache(request: Request) -> service.WebhookChannelCache:
    cache: service.WebhookChannelCache | None = getattr(
        request.app.state, "waha_webhook_cache", None
    )
    if cache is None:
        cache = service.WebhookChannelCache()
        request.app.state.waha_webhook_cache = cache
    return cache


WebhookCache = Annotated[service.WebhookChannelCache, Depends(get_webhook_cache)]


def _public_base(request: Request) -> str:
    return str(request.base_url)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ChannelRead)
async def create_channel(
    body: ChannelCreate, principal: Manager, uow: Uow, box: Box, request: Request
) -> ChannelRead:
    """Connect a WAHA session (admin); answers with the webhook URL to configure in WAHA."""
    command = service.CreateChannel(**body.model_dump(exclude={"type"}))
    channel = await service.create_channel(uow, box, principal, command)
    return ChannelRead.of(channel, base_url=_public_base(request))


@router.get("", response_model=Page[ChannelRead])
async def list_channels(
    principal: Reader,
    uow: Uow,
    box: Box,
    request: Request,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ChannelRead]:
    """The tenant's channels, newest first."""
    page = await service.list_channels(
        uow, box, principal, limit=limit, before=decode_cursor(cursor)
    )
    base = _public_base(request)
    return Page(
        items=[ChannelRead.of(c, base_url=base) for c in page.items],
        next_cursor=encode_cursor(page.next_before),
    )


@router.get("/{channel_id}", response_model=ChannelRead)
async def get_channel(
    channel_id: uuid.UUID, principal: Reader, uow: Uow, box: Box, request: Request
) -> ChannelRead:
    """One channel."""
    channel = await service.get_channel(uow, box, principal, channel_id)
    return ChannelRead.of(channel, base_url=_public_base(request))


@router.patch("/{channel_id}", response_model=ChannelRead)
async def update_channel(
    channel_id: uuid.UUID,
    body: ChannelUpdate,
    principal: Manager,
    uow: Uow,
    box: Box,
    cache: WebhookCache,
    request: Request,
) -> ChannelRead:
    """Change a channel's settings or secrets (admin)."""
    fields = body.model_dump(exclude_unset=True)
    channel = await service.update_channel(uow, box, principal, channel_id, fields, cache=cache)
    return ChannelRead.of(channel, base_url=_public_base(request))


@router.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(
    channel_id: uuid.UUID, principal: Manager, uow: Uow, box: Box, cache: WebhookCache
) -> Response:
    """Delete a channel (admin): its webhook answers 404 from then on; messages stay."""
    await service.delete_channel(uow, box, principal, channel_id, cache=cache)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_ENVELOPE_SCHEMA = {
    "type": "object",
    "description": "WAHA's webhook envelope, exactly as WAHA signed it",
    "required": ["event", "session"],
    "properties": {
        "id": {"type": "string", "example": "evt_01ky2d4dm6z0bha5ast0cn0j3g"},
        "timestamp": {"type": "integer", "description": "milliseconds"},
        "event": {"type": "string", "example": "message"},
        "session": {"type": "string", "example": "default"},
        "me": {"type": "object"},
        "payload": {"type": "object"},
        "engine": {"type": "string", "example": "NOWEB"},
    },
}


@webhook_router.post(
    "/waha/{channel_id}",
    response_model=WebhookAccepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ENVELOPE_SCHEMA}},
        }
    },
    responses={
        400: {"description": "The body is not JSON"},
        401: {"description": "Missing or wrong X-Webhook-Hmac, or an algorithm but sha512"},
        404: {"description": "No such channel (or deleted)"},
        413: {"description": "Body over 16 MiB"},
        422: {"description": "JSON, but not a WAHA webhook envelope"},
    },
)
async def waha_webhook(
    channel_id: str,
    request: Request,
    container: ContainerDep,
    box: Box,
    cache: WebhookCache,
    x_webhook_hmac: Annotated[str | None, Header()] = None,
    x_webhook_hmac_algorithm: Annotated[str | None, Header()] = None,
) -> WebhookAccepted | JSONResponse:
    """Where WAHA posts a channel's events; 200 means stored durably (repeats are ignored)."""
    body = await request.body()
    try:
        accepted = await service.accept_waha_webhook(
            container.uow,
            box,
            channel_id=channel_id,
            body=body,
            signature=x_webhook_hmac,
            algorithm=x_webhook_hmac_algorithm,
            cache=cache,
        )
    except service.WebhookBodyNotJson as error:
        return problem(400, error.detail)
    return WebhookAccepted(
        status="duplicate" if accepted.duplicate else "stored", event=accepted.event
    )
