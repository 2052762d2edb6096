"""Per-tenant request limits on /api/v1, with X-RateLimit-* headers and 429 + Retry-After."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ventros.api.middleware import header_value, send_problem
from ventros.identity.tokens import TokenService
from ventros.kernel.errors import NotAuthenticated
from ventros.platform.invalidation import Invalidations
from ventros.platform.ratelimit import RateLimits

LIMIT_CACHE_SECONDS = 30.0

TenantLimit = Callable[[uuid.UUID], Awaitable[int]]


class TenantLimitCache:
    """Tenant limits change rarely; reading them on every request would cost a query. A
    limit is cached only while `invalidations` (PATCH /settings announces each change to
    every process) is listening, so a change applies to the next request everywhere;
    without a live listener every request reads the limit."""

    def __init__(
        self,
        load: TenantLimit,
        ttl: float = LIMIT_CACHE_SECONDS,
        *,
        invalidations: Invalidations | None = None,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._cache: dict[uuid.UUID, tuple[int, float]] = {}
        self.invalidations = invalidations
        if invalidations is not None:
            invalidations.subscribe(self.forget)

    def forget(self, tenant: str | None) -> None:
        if tenant is None:
            self._cache.clear()
            return
        with contextlib.suppress(ValueError):
            self._cache.pop(uuid.UUID(tenant), None)

    async def get(self, tenant_id: uuid.UUID) -> int:
        watch = self.invalidations
        if watch is None:
            return await self._load(tenant_id)
        watch.start()
        cached = self._cache.get(tenant_id)
        now = time.monotonic()
        if cached and cached[1] > now and watch.live:
            return cached[0]
        generation = watch.generation
        limit = await self._load(tenant_id)
        if watch.live and watch.generation == generation:  # no change told meanwhile
            self._cache[tenant_id] = (limit, now + self._ttl)
        return limit


class TenantRateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str,
        tokens: TokenService,
        limits: RateLimits,
        tenant_limit: TenantLimitCache,
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.tokens = tokens
        self.limits = limits
        self.tenant_limits = tenant_limit

    def _tenant_of(self, scope: Scope) -> uuid.UUID | None:
        authorization = header_value(scope, b"authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            return self.tokens.verify(token.strip()).tenant_id
        except NotAuthenticated:
            return None  # the route answers 401 itself

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        tenant_id = self._tenant_of(scope)
        if tenant_id is None:
            await self.app(scope, receive, send)
            return
        verdict = await self.limits.hit_per_minute(
            await self.tenant_limits.get(tenant_id), "tenant", str(tenant_id)
        )
        headers = [
            (b"x-ratelimit-limit", str(verdict.limit).encode()),
            (b"x-ratelimit-remaining", str(verdict.remaining).encode()),
            (b"x-ratelimit-reset", str(verdict.reset_seconds).encode()),
        ]
        if not verdict.allowed:
            await send_problem(
                send,
                429,
                "Too Many Requests",
                f"rate limit of {verdict.limit} requests per minute exceeded",
                [*headers, (b"retry-after", str(verdict.reset_seconds).encode())],
            )
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
