"""The FastAPI application factory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ventros.api.errors import install_error_handlers
from ventros.api.health import DEFAULT_CHECKS, HealthCheck
from ventros.api.health import router as health_router
from ventros.api.idempotency import IdempotencyMiddleware
from ventros.api.input_guard import InputGuardMiddleware
from ventros.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from ventros.api.observability import instrument
from ventros.api.observability import router as metrics_router
from ventros.api.ratelimit import TenantLimitCache, TenantRateLimitMiddleware
from ventros.api.security import SecurityHeadersMiddleware
from ventros.channels.api import WahaWebhookLane, webhook_context
from ventros.identity.service import rate_limit_of
from ventros.kernel.json_input import MAX_JSON_DEPTH

if TYPE_CHECKING:
    from ventros.runtime.container import Container
from ventros.web.app import ContentSecurityPolicyMiddleware, install_web

API_PREFIX = "/api/v1"
# Routes that accept large bodies (WAHA webhooks carry media; uploads).
LARGE_BODY_PREFIXES = ("/webhooks/", "/api/v1/media")
# The web composer's send carries an attachment as multipart. Twice the media limit lets a
# file somewhat over 16 MiB reach the route, which answers with a "too large" toast on the
# page rather than a bare 413; media's own check still refuses anything over 16 MiB.
WEB_UPLOAD_PATH = re.compile(r"/app/inbox/[^/]+/send")


def api_router(routers: Sequence[APIRouter]) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for each in routers:
        router.include_router(each)
    return router


def create_app(
    container: Container,
    *,
    routers: Sequence[APIRouter],
    root_routers: Sequence[APIRouter] = (),
    extra_checks: dict[str, HealthCheck] | None = None,
) -> FastAPI:
    """The HTTP application over `routers` (under /api/v1, in order) and `root_routers`;
    the runtime passes every context's (`ventros.runtime.http.create_app`)."""
    settings = container.settings
    # Tenant limits are cached per process, forgotten when PATCH /settings announces one.
    tenant_limits = TenantLimitCache(
        lambda tenant_id: rate_limit_of(container.uow, tenant_id),
        invalidations=container.tenant_settings_changes,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await webhook_context(app, container).intake.wait_idle()
        feed = getattr(app.state, "event_feed", None)
        if feed is not None:
            await feed.close()
        for name in ("waha_client", "media_store"):  # made on first use by their routes
            made = getattr(app.state, name, None)
            if made is not None:
                await made.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="Ventros CRM",
        version="0.1.0",
        description="Multi-tenant CRM for teams that sell and serve over WhatsApp.",
        openapi_url="/openapi.json",
        # Request spans come from RequestContextMiddleware (platform/tracing.py), which also
        # carries the trace into the events; FastAPI's own would make a second server span.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.container = container
    app.state.health_checks = {**DEFAULT_CHECKS, **(extra_checks or {})}
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(api_router(routers))
    for router in root_routers:  # WAHA's webhook: WAHA signs, no JWT
        app.include_router(router)
    install_web(app)  # the agents' web app: /, /login, /app/*, /static

    # Added innermost first: the request id wraps everything, so even a 413 carries it.
    # Idempotency reads the body, so it sits inside the body limit.
    app.add_middleware(IdempotencyMiddleware, prefix=API_PREFIX, container=container)
    app.add_middleware(
        TenantRateLimitMiddleware,
        prefix=API_PREFIX,
        tokens=container.tokens,
        limits=container.rate_limits,
        tenant_limit=tenant_limits,
    )
    # Every string input under /api/v1, checked once before any route (NUL, JSON depth).
    app.add_middleware(InputGuardMiddleware, prefix=API_PREFIX, max_depth=MAX_JSON_DEPTH)
    # WAHA's webhook skips what is above (and FastAPI's routing) and stores in group
    # commits; the body limit, CORS, security headers and request context wrap it too.
    app.add_middleware(WahaWebhookLane, webhook=webhook_context(app, container))
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        large_limit=settings.media_max_body_bytes,
        large_prefixes=LARGE_BODY_PREFIXES,
        limits_by_path=((WEB_UPLOAD_PATH, 2 * settings.media_max_body_bytes),),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-ID",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "Retry-After",
            ],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ContentSecurityPolicyMiddleware)
    app.add_middleware(RequestContextMiddleware, on_finish=instrument(container).observe)
    return app
