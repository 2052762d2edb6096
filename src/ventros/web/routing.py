"""The web app's route class: refusals and missing logins answered as pages, not
problem+json."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from ventros.kernel.errors import NotFound, PermissionDenied
from ventros.web import i18n
from ventros.web.auth import LoginRequired, SessionExpired, clear_session_cookie
from ventros.web.templating import render


def _locale(request: Request) -> str:
    return i18n.choose(None, request.headers.get("accept-language"))


def _error_page(request: Request, code: int) -> Response:
    return render(
        request,
        "error.html",
        {"code": code, "shell": None},
        locale=_locale(request),
        status_code=code,
    )


class WebRoute(APIRoute):
    """A route whose refusals are pages, not problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except LoginRequired:
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": "/login"})
                return RedirectResponse("/login", status_code=303)
            except SessionExpired:
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": "/login?expired=1"})
                response = render(
                    request,
                    "expired.html",
                    {"shell": None},
                    locale=_locale(request),
                    status_code=401,
                )
                clear_session_cookie(response, request)
                return response
            except PermissionDenied:
                return _error_page(request, 403)
            except NotFound:
                return _error_page(request, 404)

        return handler
