"""HTTP routes of channels, and WAHA's inbound webhook (at the root, no JWT: HMAC-signed)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.api.errors import domain_error_response, problem
from ventros.api.middleware import header_value, read_body
from ventros.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from ventros.channels import pairing, service
from ventros.channels.intake import InboundIntake
from ventros.channels.schemas import ChannelCreate, ChannelRead, ChannelUpdate, WebhookAccepted
from ventros.channels.waha_client import WahaClient, WahaError
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.kernel.errors import DomainError
from ventros.platform.crypto import SecretBox
from ventros.platform.uow import UnitOfWorkFactory

if TYPE_CHECKING:
    from ventros.runtime.container import Container
from ventros.webhooks import ssrf

router = APIRouter(prefix="/channels", tags=["channels"])
webhook_router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Reader = Annotated[Principal, Depends(authorized(Permission.CHANNELS_READ))]
Manager = Annotated[Principal, Depends(authorized(Permission.CHANNELS_MANAGE))]


# Async on purpose: a sync dependency runs in the thread pool, a hop per request.
async def get_secret_box(request: Request, container: ContainerDep) -> SecretBox:
    box: SecretBox | None = getattr(request.app.state, "secret_box", None)
    if box is None:
        box = container.secret_box
        request.app.state.secret_box = box
    return box


Box = Annotated[SecretBox, Depends(get_secret_box)]


class WebhookContext:
    """What the webhook needs, one per app: the secret box, the cache of webhook channels
    (the channel routes forget changed entries in it) and the group-commit intake."""

    def __init__(self, container: Container) -> None:
        self.uow = container.uow
        self.box = container.secret_box
        self.cache = service.WebhookChannelCache()
        self.intake = InboundIntake(container.database.app)

    async def accept(
        self, channel_id: str, body: bytes, signature: str | None, algorithm: str | None
    ) -> service.AcceptedWebhook:
        return await service.accept_waha_webhook(
            self.uow,
            self.box,
            channel_id=channel_id,
            body=body,
            signature=signature,
            algorithm=algorithm,
            cache=self.cache,
            intake=self.intake,
        )


def webhook_context(app: Any, container: Container) -> WebhookContext:
    """The app's webhook context (made on first use)."""
    context: WebhookContext | None = getattr(app.state, "waha_webhook", None)
    if context is None:
        context = WebhookContext(container)
        app.state.waha_webhook = context
    return context


async def get_webhook_context(request: Request, container: ContainerDep) -> WebhookContext:
    return webhook_context(request.app, container)


Webhook = Annotated[WebhookContext, Depends(get_webhook_context)]


async def get_webhook_cache(webhook: Webhook) -> service.WebhookChannelCache:
    return webhook.cache


WebhookCache = Annotated[service.WebhookChannelCache, Depends(get_webhook_cache)]


async def waha_reachable(request: Request, url: str, *, field: str) -> None:
    """422 unless WAHA-bound requests may go to `url` (the outbound-webhook SSRF policy)."""
    container: Container = request.app.state.container
    await ssrf.ensure_allowed(
        url,
        allow_private=container.settings.waha_allow_private,
        field=field,
        allowed_by="VENTROS_WAHA_ALLOW_PRIVATE",
    )


def _public_base(request: Request) -> str:
    return str(request.base_url)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ChannelRead)
async def create_channel(
    body: ChannelCreate, principal: Manager, uow: Uow, box: Box, request: Request
) -> ChannelRead:
    """Connect a WAHA session (admin); answers with the webhook URL to configure in WAHA.
    `base_url` must be a public address unless the operator set VENTROS_WAHA_ALLOW_PRIVATE."""
    await waha_reachable(request, body.base_url, field="base_url")
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
    if fields.get("base_url") is not None:
        await waha_reachable(request, fields["base_url"], field="base_url")
    channel = await service.update_channel(uow, box, principal, channel_id, fields, cache=cache)
    return ChannelRead.of(channel, base_url=_public_base(request))


@router.delete("/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(
    channel_id: uuid.UUID, principal: Manager, uow: Uow, box: Box, cache: WebhookCache
) -> Response:
    """Delete a channel (admin): its webhook answers 404 from then on; messages stay."""
    await service.delete_channel(uow, box, principal, channel_id, cache=cache)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- pairing


async def get_waha_client(request: Request, container: ContainerDep) -> WahaClient:
    """The app's WAHA client for session calls (made on first use)."""
    client: WahaClient | None = getattr(request.app.state, "waha_client", None)
    if client is None:
        client = WahaClient.create(timeout_seconds=container.settings.waha_timeout_seconds)
        request.app.state.waha_client = client
    return client


Waha = Annotated[WahaClient, Depends(get_waha_client)]


class SessionMe(BaseModel):
    id: str | None
    push_name: str | None


class SessionStatusRead(BaseModel):
    channel_id: uuid.UUID
    status: str = Field(description="WAHA's session status (`WORKING`, `SCAN_QR_CODE`, ...)")
    working: bool = Field(description="false for every status but WORKING, unknown ones too")
    me: SessionMe | None = Field(description="the paired phone, once WAHA knows it")


def _waha_failed(error: WahaError) -> Response:
    return problem(502, f"WAHA did not answer as expected: {error.detail}")


@router.get("/{channel_id}/status", response_model=SessionStatusRead)
async def channel_status(
    channel_id: uuid.UUID, principal: Reader, uow: Uow, box: Box, waha: Waha
) -> Any:
    """WAHA's session status now, and the paired phone (recorded on the channel too)."""
    try:
        state = await pairing.session_state(uow, box, principal, channel_id, waha)
    except WahaError as error:
        return _waha_failed(error)
    me = SessionMe(id=state.me_id, push_name=state.push_name) if state.me_id else None
    return SessionStatusRead(
        channel_id=channel_id, status=state.status, working=state.working, me=me
    )


@router.get(
    "/{channel_id}/qr",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 409: {"description": "not SCAN_QR_CODE"}},
)
async def channel_qr(
    channel_id: uuid.UUID, principal: Manager, uow: Uow, box: Box, waha: Waha
) -> Response:
    """The QR code to scan with WhatsApp on the phone, while the session waits for it."""
    try:
        png = await pairing.session_qr(uow, box, principal, channel_id, waha)
    except WahaError as error:
        return _waha_failed(error)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/{channel_id}/restart", status_code=status.HTTP_202_ACCEPTED, response_model=None)
async def restart_channel(
    channel_id: uuid.UUID, principal: Manager, uow: Uow, box: Box, waha: Waha
) -> Response:
    """Restart the WAHA session (its new status arrives as `channel.status_changed`)."""
    return await _session_action(channel_id, principal, uow, box, waha, "restart")


@router.post("/{channel_id}/logout", status_code=status.HTTP_202_ACCEPTED, response_model=None)
async def logout_channel(
    channel_id: uuid.UUID, principal: Manager, uow: Uow, box: Box, waha: Waha
) -> Response:
    """Unpair the phone; WAHA then offers a new QR code."""
    return await _session_action(channel_id, principal, uow, box, waha, "logout")


async def _session_action(
    channel_id: uuid.UUID,
    principal: Principal,
    uow: UnitOfWorkFactory,
    box: SecretBox,
    waha: WahaClient,
    action: str,
) -> Response:
    try:
        await pairing.session_action(uow, box, principal, channel_id, waha, action)
    except WahaError as error:
        return _waha_failed(error)
    return JSONResponse({"channel_id": str(channel_id), "action": action}, status_code=202)


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
    webhook: Webhook,
    x_webhook_hmac: Annotated[str | None, Header()] = None,
    x_webhook_hmac_algorithm: Annotated[str | None, Header()] = None,
) -> Response:
    """Where WAHA posts a channel's events; 200 means stored durably (repeats are ignored).

    `create_app` serves this path through `WahaWebhookLane` (same answers, without the
    /api/v1 middleware); this route documents it and serves it in an app without the lane.
    """
    body = await request.body()
    return await _answer(webhook, channel_id, body, x_webhook_hmac, x_webhook_hmac_algorithm)


async def _answer(
    webhook: WebhookContext,
    channel_id: str,
    body: bytes,
    signature: str | None,
    algorithm: str | None,
) -> Response:
    """The webhook's answer, for the route and the lane alike (domain errors are raised)."""
    try:
        accepted = await webhook.accept(channel_id, body, signature, algorithm)
    except service.WebhookBodyNotJson as error:
        return problem(400, error.detail)
    return JSONResponse(
        {"status": "duplicate" if accepted.duplicate else "stored", "event": accepted.event}
    )


# --------------------------------------------------------------------------- the lean lane

WEBHOOK_PATH = "/webhooks/waha/"


class WahaWebhookLane:
    """ASGI middleware inside the request context (request id, trace, metrics, last-resort
    500), the security headers and the body limit: serves `POST /webhooks/waha/{channel_id}`
    itself and passes everything else on. The webhook is WAHA's hot path, and neither the
    /api/v1 middleware below (no JWT, no tenant rate limit, no idempotency keys) nor
    FastAPI's routing applies to it; the answers are the route's."""

    def __init__(self, app: ASGIApp, *, webhook: WebhookContext) -> None:
        self.app = app
        self.webhook = webhook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if (
            not path.startswith(WEBHOOK_PATH)
            or scope["method"] != "POST"
            or "/" in (channel_id := path[len(WEBHOOK_PATH) :])
            or not channel_id
        ):
            await self.app(scope, receive, send)
            return
        # This lane is the route: the metrics label it as the route's template.
        scope["route"] = waha_webhook
        scope["path_params"] = {"channel_id": channel_id}
        signature = header_value(scope, b"x-webhook-hmac")
        algorithm = header_value(scope, b"x-webhook-hmac-algorithm")
        try:
            body, instead = await read_body(receive)
            if instead:  # gone before its body arrived
                raise ClientDisconnect()
            response = await _answer(self.webhook, channel_id, body, signature, algorithm)
        except DomainError as error:
            response = domain_error_response(error)
        await response(scope, receive, send)
