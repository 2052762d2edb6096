"""The one place where failures become RFC 9457 problem+json responses."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ventros.kernel.errors import (
    Conflict,
    DomainError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RuleViolation,
    TooManyRequests,
)

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)

_STATUS_OF: list[tuple[type[DomainError], int, str]] = [
    (NotAuthenticated, 401, "Unauthorized"),
    (PermissionDenied, 403, "Forbidden"),
    (NotFound, 404, "Not Found"),
    (Conflict, 409, "Conflict"),
    (RuleViolation, 422, "Unprocessable Content"),
    (TooManyRequests, 429, "Too Many Requests"),
]

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    title = _TITLES.get(status, "Error")
    body = {
        "type": f"https://ventros.dev/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=all_headers)


def domain_error_response(error: DomainError) -> JSONResponse:
    for kind, status, _title in _STATUS_OF:
        if isinstance(error, kind):
            extra: dict[str, Any] = {}
            headers: dict[str, str] = {}
            if isinstance(error, Conflict) and error.existing_id is not None:
                extra["existing_id"] = str(error.existing_id)
            if isinstance(error, RuleViolation) and error.field:
                extra["errors"] = [{"loc": ["body", error.field], "msg": error.detail}]
            if isinstance(error, TooManyRequests):
                headers["Retry-After"] = str(error.retry_after_seconds)
            return problem(status, error.detail, headers=headers, **extra)
    return problem(422, error.detail)


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(item.get("loc", ())), "msg": str(item.get("msg", "invalid"))}
        for item in error.errors()
    ]


def _is_malformed_json(error: RequestValidationError) -> bool:
    return any(item.get("type") == "json_invalid" for item in error.errors())


def _is_not_json(request: Request, error: RequestValidationError) -> bool:
    """The whole body was refused and it was sent as something other than JSON (a form,
    text): the user needs to hear "send JSON", not "Input should be a valid dictionary"."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not media_type or media_type == "application/json" or media_type.endswith("+json"):
        return False
    return any(tuple(item.get("loc", ())) == ("body",) for item in error.errors())


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def on_domain_error(_: Request, error: DomainError) -> JSONResponse:
        return domain_error_response(error)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        if _is_not_json(request, error):
            return problem(
                415,
                "the request body must be JSON: send it with Content-Type: application/json",
            )
        if _is_malformed_json(error):
            return problem(400, "request body is not valid JSON")
        return problem(422, "request validation failed", errors=_validation_errors(error))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
        return problem(error.status_code, detail, headers=dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        # Internals (stack, SQL) go to the log, never to the client.
        log.exception("unhandled error", path=request.url.path, error_type=type(error).__name__)
        return problem(500, "an unexpected error occurred; it has been logged")
