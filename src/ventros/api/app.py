"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ventros.agents.api import router as agents_router
from ventros.api.errors import install_error_handlers
from ventros.api.health import DEFAULT_CHECKS, HealthCheck
from ventros.api.health import router as health_router
from ventros.api.idempotency import IdempotencyMiddleware
from ventros.api.input_guard import InputGuardMiddleware
from ventros.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from ventros.api.observability import instrument
from ventros.api.observability import router as metrics_router
from ventros.api.ratelimit import TenantRateLimitMiddleware
from ventros.api.security import SecurityHeadersMiddleware
from ventros.audit.api import router as audit_router
from ventros.bootstrap import Container
from ventros.channels.api import WahaWebhookLane, webhook_context
from ventros.channels.api import router as channels_router
from ventros.channels.api import webhook_router as waha_webhook_router
from ventros.contacts.api import router as contacts_router
from ventros.contacts.merge_api import router as contacts_merge_router
from ventros.contacts.profile_picture import router as profile_picture_router
from ventros.conversations.api import router as conversations_router
from ventros.conversations.lifecycle_api import router as session_actions_router
from ventros.conversations.reports import router as reports_router
from ventros.identity.api import router as identity_router
from ventros.identity.service import rate_limit_of
from ventros.kernel.json_input import MAX_JSON_DEPTH
from ventros.pipelines.api import router as pipelines_router
from ventros.privacy.api import router as privacy_router
from ventros.tracking.ads_api import router as ads_router
from ventros.tracking.api import router as tracking_router
from ventros.webhooks.api import router as webhooks_router

API_PREFIX = "/api/v1"
# Routes that accept large bodies (WAHA webhooks carry media; uploads).
LARGE_BODY_PREFIXES = ("/webhooks/",)


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    router.include_router(identity_router)
    router.include_router(agents_router)
    router.include_router(contacts_merge_router)  # before /contacts/{id}
    router.include_router(privacy_router)  # LGPD: /contacts/{id}/export, /anonymize
    router.include_router(contacts_router)
    router.include_router(profile_picture_router)
    router.include_router(channels_router)
    router.include_router(conversations_router)
    router.include_router(session_actions_router)
    router.include_router(reports_router)
    router.include_router(pipelines_router)
    router.include_router(tracking_router)
    router.include_router(ads_router)
    router.include_router(audit_router)
    router.include_router(webhooks_router)
    return router


def create_app(
    container: Container, *, extra_checks: dict[str, HealthCheck] | None = None
) -> FastAPI:
    settings = container.settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await webhook_context(app, container).intake.wait_idle()
        feed = getattr(app.state, "event_feed", None)
        if feed is not None:
            await feed.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Ventros CRM",
        version="0.1.0",
        description="Multi-tenant CRM for teams that sell and serve over WhatsApp.",
        openapi_url="/openapi.json",
    )
    app.state.container = container
    app.state.health_checks = {**DEFAULT_CHECKS, **(extra_checks or {})}
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(api_router())
    app.include_router(waha_webhook_router)  # at the root: WAHA signs, no JWT

    # Added innermost first: the request id wraps everything, so even a 413 carries it.
    # Idempotency reads the body, so it sits inside the body limit.
    app.add_middleware(IdempotencyMiddleware, prefix=API_PREFIX, container=container)
    app.add_middleware(
        TenantRateLimitMiddleware,
        prefix=API_PREFIX,
        tokens=container.tokens,
        limits=container.rate_limits,
        tenant_limit=lambda tenant_id: rate_limit_of(container.uow, tenant_id),
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
    app.add_middleware(RequestContextMiddleware, on_finish=instrument(container).observe)
    return app
