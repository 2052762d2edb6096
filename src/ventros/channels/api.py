"""HTTP routes of channels, and WAHA's inbound webhook (at the root, no JWT: HMAC-signed)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ventros.api.deps import ContainerDep, Uow, authorized
from ventros.api.errors import domain_error_response, problem
from ventros.api.middleware import REQUEST_ID, send_problem
from ventros.api.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from ventros.api.security import SECURITY_HEADERS
from ventros.bootstrap import Container
from ventros.channels import service
from ventros.channels.intake import InboundIntake
from ventros.channels.schemas import ChannelCreate, ChannelRead, ChannelUpdate, WebhookAccepted
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.kernel.errors import DomainError
from ventros.platform.crypto import SecretBox

log = structlog.get_logger(__name__)

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


class WebhookContext:
    """What the webhook needs, one per app: the secret box, the cache of webhook channels
    (the channel routes forget changed entries in it) and the group-commit intake."""

    def __init__(self, container: Container) -> None:
        self.uow = container.uow
        self.box = SecretBox.from_secret(container.settings.resolved_secret_key())
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
    webhook: Webhook,
    x_webhook_hmac: Annotated[str | None, Header()] = None,
    x_webhook_hmac_algorithm: Annotated[str | None, Header()] = None,
) -> WebhookAccepted | JSONResponse:
    """Where WAHA posts a channel's events; 200 means stored durably (repeats are ignored).

    `create_app` serves this path through `WahaWebhookLane` (same answers, without the
    /api/v1 middleware); this route documents it and serves it in an app without the lane.
    """
    body = await request.body()
    try:
        accepted = await webhook.accept(channel_id, body, x_webhook_hmac, x_webhook_hmac_algorithm)
    except service.WebhookBodyNotJson as error:
        return problem(400, error.detail)
    return WebhookAccepted(
        status="duplicate" if accepted.duplicate else "stored", event=accepted.event
    )


# --------------------------------------------------------------------------- the lean lane

WEBHOOK_PATH = "/webhooks/waha/"
WEBHOOK_ROUTE = "/webhooks/waha/{channel_id}"  # the metrics label, as the route's template
_JSON_HEADERS = [(b"content-type", b"application/json"), *SECURITY_HEADERS]


class WahaWebhookLane:
    """ASGI middleware, outermost: serves `POST /webhooks/waha/{channel_id}` itself and
    passes everything else on. The webhook is WAHA's hot path, and none of the /api/v1
    middleware applies to it (no JWT, no tenant rate limit, no idempotency keys); it keeps
    what does: the body limit (413), an X-Request-ID, the security headers, the HTTP
    metrics, and the same answers as the route above (problem+json errors)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        webhook: WebhookContext,
        max_body_bytes: int,
        on_finish: Callable[[str, str, int, float], None] | None = None,
    ) -> None:
        self.app = app
        self.webhook = webhook
        self.max_body_bytes = max_body_bytes
        self.on_finish = on_finish

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
        began = time.perf_counter()
        headers = _webhook_headers(scope)
        sent_id = headers.get(b"x-request-id")
        request_id = sent_id if sent_id and REQUEST_ID.match(sent_id) else uuid.uuid4().hex
        id_header = (b"x-request-id", request_id.encode())
        status = 500
        started = False

        async def reply(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                present = {key.lower() for key, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = [*message.get("headers", []), *extra, id_header]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self._serve(channel_id, headers, receive, scope, reply)
        except ClientDisconnect:
            status = 499  # gone before its body arrived: nothing stored, nothing to answer
        except Exception:
            log.exception("unhandled error", path=path)
            if not started:
                await problem(500, "an unexpected error occurred; it has been logged")(
                    scope, receive, reply
                )
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            if self.on_finish is not None:
                self.on_finish("POST", WEBHOOK_ROUTE, status, time.perf_counter() - began)

    async def _serve(
        self,
        channel_id: str,
        headers: dict[bytes, str],
        receive: Receive,
        scope: Scope,
        reply: Send,
    ) -> None:
        limit = self.max_body_bytes
        declared = headers.get(b"content-length")
        body = None
        if not (declared is not None and declared.isdigit() and int(declared) > limit):
            body = await _read_body(receive, limit)
        if body is None:
            detail = f"request body exceeds {limit} bytes"
            await send_problem(reply, 413, "Content Too Large", detail, [])
            return
        try:
            accepted = await self.webhook.accept(
                channel_id,
                body,
                headers.get(b"x-webhook-hmac"),
                headers.get(b"x-webhook-hmac-algorithm"),
            )
        except service.WebhookBodyNotJson as error:
            await problem(400, error.detail)(scope, receive, reply)
            return
        except DomainError as error:
            await domain_error_response(error)(scope, receive, reply)
            return
        answer = json.dumps(
            {"status": "duplicate" if accepted.duplicate else "stored", "event": accepted.event},
            separators=(",", ":"),
        ).encode()
        await reply(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(answer)).encode())],
            }
        )
        await reply({"type": "http.response.body", "body": answer})


_LANE_HEADERS = frozenset(
    (b"x-request-id", b"content-length", b"x-webhook-hmac", b"x-webhook-hmac-algorithm")
)


def _webhook_headers(scope: Scope) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        name = key.lower()
        if name in _LANE_HEADERS:
            found[name] = value.decode("latin-1")
    return found


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it passes `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
