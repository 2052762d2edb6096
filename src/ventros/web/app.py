"""Mounts the web app on the FastAPI application (its routes and static files) and the
Content-Security-Policy the app factory puts on every response."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ventros.web import agent_tools, reports, service_settings, settings
from ventros.web import contacts as contact_screens
from ventros.web import pipelines as pipeline_screens
from ventros.web.views import router

STATIC = Path(__file__).parent / "static"
# Scripts and styles only from this origin, none inline; media may come from WhatsApp's
# or the media store's hosts.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: https: http:; media-src 'self' https: http:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)


# FastAPI's interactive API docs load their own scripts; the policy is for everything else.
API_DOC_PAGES = ("/docs", "/redoc")


class ContentSecurityPolicyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(API_DOC_PAGES):
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_policy)


def install_web(app: FastAPI) -> None:
    # Before the views' router: its `/app/{section}` placeholder would answer first.
    app.include_router(contact_screens.router)
    app.include_router(pipeline_screens.router)
    app.include_router(reports.router)
    app.include_router(settings.router)
    app.include_router(service_settings.router)
    app.include_router(router)
    app.include_router(agent_tools.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
