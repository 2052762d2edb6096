"""Pure ASGI middleware (no BaseHTTPMiddleware: it buffers streams and breaks SSE)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ventros.kernel.tracing import TraceContext
from ventros.platform.tracing import SpanKind, name_current_span, span

log = structlog.get_logger(__name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def header_value(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body (bounded by the body limit outside), and a message that came instead
    of more body (a disconnect), to hand on unchanged after it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), [message]
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), []


async def send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    headers: list[tuple[bytes, bytes]],
    **extra: object,
) -> None:
    body = json.dumps(
        {
            "type": f"https://ventros.dev/problems/{title.lower().replace(' ', '-')}",
            "title": title,
            "status": status,
            "detail": detail,
            **extra,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """X-Request-ID on every response (echoed when the client sent a sane one), the id and
    the trace (continued from `traceparent`) bound to logs, and a last-resort problem+json
    500 that still carries the request id."""

    def __init__(
        self, app: ASGIApp, on_finish: Callable[[str, str, int, float], None] | None = None
    ) -> None:
        self.app = app
        self.on_finish = on_finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = header_value(scope, b"x-request-id")
        request_id = sent if sent and _REQUEST_ID.match(sent) else uuid.uuid4().hex
        id_header = (b"x-request-id", request_id.encode())
        started = False
        status = 500
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        # The caller's trace continues here (W3C traceparent), or this request starts one;
        # the events it records carry it to every consumer.
        caller = TraceContext.parse(header_value(scope, b"traceparent"))
        method = scope.get("method", "")
        try:
            with span(
                f"{method} {scope.get('path', '')}", parent=caller, kind=SpanKind.SERVER
            ) as trace:
                structlog.contextvars.bind_contextvars(
                    request_id=request_id, trace_id=trace.trace_id
                )
                await self.app(scope, receive, send_with_id)
                name_current_span(f"{method} {route_template(scope)}", status=status)
        except ClientDisconnect:
            status = 499  # gone before its body arrived: nothing done, nobody to answer
        except Exception:
            log.exception("unhandled error", path=scope.get("path"))
            if not started:
                await send_problem(
                    send,
                    500,
                    "Internal Server Error",
                    "an unexpected error occurred; it has been logged",
                    [id_header],
                )
        finally:
            structlog.contextvars.unbind_contextvars("request_id", "trace_id")
            if self.on_finish is not None:
                elapsed = time.perf_counter() - began
                self.on_finish(scope.get("method", ""), route_template(scope), status, elapsed)


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default_limit: int,
        large_limit: int,
        large_prefixes: tuple[str, ...],
        limits_by_path: tuple[tuple[re.Pattern[str], int], ...] = (),
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.large_limit = large_limit
        self.large_prefixes = large_prefixes
        self.limits_by_path = limits_by_path

    def _limit_for(self, path: str) -> int:
        for pattern, limit in self.limits_by_path:
            if pattern.fullmatch(path):
                return limit
        return self.large_limit if path.startswith(self.large_prefixes) else self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope.get("path", ""))
        declared = header_value(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_problem(
                send, 413, "Content Too Large", f"request body exceeds {limit} bytes", []
            )
            return
        received = 0
        too_large = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge
            return message

        async def replacing_send(message: Message) -> None:
            # Frameworks turn an error while reading the body into their own 400; once the
            # limit is passed, that answer is replaced by the 413 it really is.
            if not too_large:
                await send(message)
            elif message["type"] == "http.response.start":
                await send_problem(send, 413, "Content Too Large", _too_large(limit), [])

        try:
            await self.app(scope, counting_receive, replacing_send)
        except BodyTooLarge:
            await send_problem(send, 413, "Content Too Large", _too_large(limit), [])


def _too_large(limit: int) -> str:
    return f"request body exceeds {limit} bytes"


def route_template(scope: Scope) -> str:
    """`/api/v1/contacts/{contact_id}` for `/api/v1/contacts/0193...`: bounded label values.

    Nested routers report paths relative to their prefix, so the template is rebuilt from
    the full path and the matched path parameters; unmatched paths collapse to one value."""
    if scope.get("route") is None:
        return "unmatched"
    segments = str(scope.get("path", "")).split("/")
    names = {str(value): name for name, value in (scope.get("path_params") or {}).items()}
    return "/".join("{" + names[s] + "}" if s in names else s for s in segments)
