"""The web app's login cookie and CSRF check.

The cookie carries a random secret and its HMAC under the server's secret key; the
database keeps only the secret's hash (identity's `web_sessions`), so logout revokes it
and each request resolves the user afresh by id (their current role applies at once).
Every state-changing request must echo the session's CSRF token, in the `X-CSRF-Token`
header (htmx sends it from the page's `hx-headers`) or a `csrf_token` form field."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request
from starlette.responses import Response

from ventros.identity import service as identity
from ventros.identity.service import WebSession
from ventros.kernel.errors import NotAuthenticated, PermissionDenied

if TYPE_CHECKING:
    from ventros.runtime.container import Container

COOKIE = "ventros_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SESSION_TTL_SECONDS = 12 * 3600  # a working day


class LoginRequired(Exception):
    """No cookie: send the browser to the login page."""


class SessionExpired(Exception):
    """A cookie that no longer names a live session: say so plainly."""


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _signature(container: Container, token: str) -> str:
    key = container.settings.resolved_secret_key().encode()
    return hmac.new(key, b"web-session:" + token.encode(), hashlib.sha256).hexdigest()


def cookie_value(container: Container, token: str) -> str:
    return f"{token}.{_signature(container, token)}"


def token_of(container: Container, value: str | None) -> str | None:
    """The session secret of a cookie whose signature is right, else None."""
    if not value or "." not in value:
        return None
    token, _, signature = value.rpartition(".")
    if not hmac.compare_digest(signature, _signature(container, token)):
        return None
    return token


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_session_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_TTL_SECONDS,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path="/",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request)
    )


async def current_web_session(request: Request) -> WebSession:
    container = _container(request)
    raw = request.cookies.get(COOKIE)
    if not raw:
        raise LoginRequired
    token = token_of(container, raw)
    if token is None:
        raise SessionExpired
    try:
        session = await identity.resolve_web_session(container.uow, token)
    except NotAuthenticated as error:
        raise SessionExpired from error
    request.state.web_session = session
    return session


CurrentWebSession = Annotated[WebSession, Depends(current_web_session)]


async def form_of(request: Request) -> dict[str, str]:
    """An url-encoded form body as single values (the pages post nothing else)."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    body = (await request.body()).decode("utf-8", errors="replace")
    form = {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
    request.state.form = form
    return form


async def csrf_checked(request: Request, session: CurrentWebSession) -> WebSession:
    """The session, once the request proved it comes from one of our pages."""
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        sent = (await form_of(request)).get(CSRF_FIELD)
    if not sent or not hmac.compare_digest(sent, session.csrf_token):
        raise PermissionDenied("missing or wrong CSRF token")
    return session


CheckedWebSession = Annotated[WebSession, Depends(csrf_checked)]
