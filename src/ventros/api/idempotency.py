"""`Idempotency-Key` on POST /api/v1: the same key and body within 24 h returns the first
response and creates nothing new; the same key with another body is 422."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ventros.api.middleware import header_value, send_problem
from ventros.identity.domain import Principal
from ventros.identity.service import confirm_principal
from ventros.kernel.errors import NotAuthenticated
from ventros.kernel.events import Actor
from ventros.platform import idempotency
from ventros.platform.crypto import SecretBox
from ventros.platform.idempotency import Claim, StoredResponse

if TYPE_CHECKING:
    from ventros.runtime.container import Container

MAX_KEY_LENGTH = 255
REPLAYED_HEADER = (b"idempotent-replayed", b"true")


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, prefix: str, container: Container) -> None:
        self.app = app
        self.prefix = prefix
        self.container = container

    def _box(self) -> SecretBox:
        return self.container.secret_box

    def _seal(self, principal: Principal, key: str, body: bytes) -> bytes:
        # Kept responses may hold secrets shown once (a new webhook's secret): sealed at rest.
        plaintext = base64.b64encode(body).decode()
        return self._box().seal(plaintext, context=_context(principal, key)).encode()

    def _open(self, principal: Principal, key: str, sealed: bytes) -> bytes:
        return base64.b64decode(self._box().open(sealed.decode(), context=_context(principal, key)))

    async def _principal(self, scope: Scope) -> Principal | None:
        scheme, _, token = (header_value(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            # A deactivated user replays nothing: the route answers their 401.
            claimed = self.container.tokens.verify(token.strip())
            return await confirm_principal(self.container.uow, claimed)
        except NotAuthenticated:
            return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header_value(scope, b"idempotency-key") if scope["type"] == "http" else None
        if (
            key is None
            or scope.get("method") != "POST"
            or not scope.get("path", "").startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        principal = await self._principal(scope)
        if principal is None:
            await self.app(scope, receive, send)  # the route answers 401
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            await send_problem(
                send,
                422,
                "Unprocessable Content",
                f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters",
                [],
            )
            return
        await self._handle(scope, receive, send, principal, key)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal, key: str
    ) -> None:
        body, replay_receive = await _read_body(receive)
        request_hash = hashlib.sha256(
            scope["path"].encode() + b"\n" + scope.get("query_string", b"") + b"\n" + body
        ).hexdigest()
        uow = self.container.uow(principal.tenant_id, Actor.user(principal.user_id))
        async with uow as tx:
            result = await idempotency.claim(tx, principal.user_id, key, request_hash)
            await tx.commit()
        if result.claim is Claim.MISMATCH:
            detail = "this Idempotency-Key was used with a different request"
            await send_problem(send, 422, "Unprocessable Content", detail, [])
            return
        if result.claim is Claim.IN_PROGRESS:
            detail = "a request with this Idempotency-Key is still being processed"
            await send_problem(send, 409, "Conflict", detail, [])
            return
        if result.claim is Claim.REPLAY and result.response is not None:
            stored = result.response
            body = self._open(principal, key, stored.body)
            await _replay(send, StoredResponse(stored.status_code, stored.headers, body))
            return
        await self._run_and_store(scope, replay_receive, send, principal, key)

    async def _run_and_store(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal, key: str
    ) -> None:
        status = 500
        headers: list[list[str]] = []
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    [k.decode("latin-1"), v.decode("latin-1")]
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"content-length", b"x-request-id")
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            async with self.container.uow(principal.tenant_id, Actor.system()) as tx:
                if status >= 500:
                    await idempotency.release(tx, principal.user_id, key)
                else:
                    sealed = self._seal(principal, key, b"".join(chunks))
                    stored = StoredResponse(status, headers, sealed)
                    await idempotency.complete(tx, principal.user_id, key, stored)
                await tx.commit()


def _context(principal: Principal, key: str) -> str:
    return f"idempotency:{principal.tenant_id}:{principal.user_id}:{key}"


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay_receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay_receive


async def _replay(send: Send, response: StoredResponse) -> None:
    raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    raw_headers += [(b"content-length", str(len(response.body)).encode()), REPLAYED_HEADER]
    await send(
        {"type": "http.response.start", "status": response.status_code, "headers": raw_headers}
    )
    await send({"type": "http.response.body", "body": response.body})
