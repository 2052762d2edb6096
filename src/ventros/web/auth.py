"""The web app's login cookie and CSRF check.

The cookie carries a random secret and its HMAC under the server's secret key; the
database keeps only the secret's hash (identity's `web_sessions`), so logout revokes it
and each request resolves the user afresh by id (their current role applies at once).
Every state-changing request must echo the session's CSRF token, in the `X-CSRF-Token`
header (htmx sends it from the page's `hx-headers`) or a `csrf_token` form field (url-encoded
or, for the composer's attachments, multipart)."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request
from starlette.datastructures import UploadFile
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


def container_of(request: Request) -> Container:
    """The process's container, which the app factory put on the app's state."""
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
    container = container_of(request)
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


MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"


def _is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith(MULTIPART)


async def form_of(request: Request) -> dict[str, str]:
    """A form body's text fields as single values: url-encoded (every page's forms) or
    multipart (the composer, which may carry a file: see `upload_of`)."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    if _is_multipart(request):
        # Starlette spools the file part to a temporary file (not memory); the body limit
        # middleware bounds its size.
        parsed = await request.form(max_files=1)
        form = {key: value for key, value in parsed.multi_items() if isinstance(value, str)}
    else:
        body = (await request.body()).decode("utf-8", errors="replace")
        form = {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}
    request.state.form = form
    return form


async def upload_of(request: Request, field: str) -> UploadFile | None:
    """The file of a multipart form's `field`; None when the form has none (a browser sends
    an empty, nameless part for a file input left empty)."""
    if not _is_multipart(request):
        return None
    found = (await request.form(max_files=1)).get(field)
    if not isinstance(found, UploadFile):
        return None
    if not found.filename and not found.size:
        await found.close()
        return None
    return found


async def csrf_checked(request: Request, session: CurrentWebSession) -> WebSession:
    """The session, once the request proved it comes from one of our pages."""
    sent = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if not sent and content_type.startswith((URLENCODED, MULTIPART)):
        sent = (await form_of(request)).get(CSRF_FIELD)
    if not sent or not hmac.compare_digest(sent, session.csrf_token):
        raise PermissionDenied("missing or wrong CSRF token")
    return session


CheckedWebSession = Annotated[WebSession, Depends(csrf_checked)]
