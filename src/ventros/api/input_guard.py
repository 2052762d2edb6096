"""One check of every string the API receives, before any route sees it: no NUL characters
(422) and no JSON nested beyond a limit (400).

A NUL cannot be stored in PostgreSQL text or JSONB, so without this each field that reaches
the database would fail as a 500; checking here covers the path, query parameters and JSON
bodies of every route at once, including routes added later.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ventros.api.middleware import header_value, read_body, send_problem
from ventros.kernel.json_input import NUL, JsonTooDeep, find_nul, loads_bounded

NUL_MESSAGE = "must not contain the NUL character (\\u0000)"
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_ESCAPED_NUL = b"\\u0000"

Location = list[str | int]


class InputGuardMiddleware:
    """For paths under `prefix`: 422 for a NUL in the path, a query parameter or a JSON
    string (keys included), 400 for JSON nested deeper than `max_depth`."""

    def __init__(self, app: ASGIApp, *, prefix: str, max_depth: int) -> None:
        self.app = app
        self.prefix = prefix
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        refused = nul_in_path_or_query(scope)
        if refused is not None:
            await _refuse_nul(send, refused)
            return
        if scope.get("method") not in _BODY_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body, pending = await read_body(receive)
        # Cheap tests on the raw bytes: most bodies need no second parse here.
        if _ESCAPED_NUL in body or body.count(b"{") + body.count(b"[") > self.max_depth:
            try:
                found = find_nul(loads_bounded(body, max_depth=self.max_depth))
            except JsonTooDeep as error:
                await send_problem(send, 400, "Bad Request", str(error), [])
                return
            except ValueError:
                found = None  # not JSON: the route says so itself
            if found is not None:
                await _refuse_nul(send, ["body", *found.location])
                return
        await self.app(scope, _replay(body, pending, receive), send)


def nul_in_path_or_query(scope: Scope) -> Location | None:
    if NUL in str(scope.get("path", "")):
        return ["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True, encoding="utf-8"):
        if NUL in name or NUL in value:
            return ["query", name.replace(NUL, "")]
    return None


def _is_json(scope: Scope) -> bool:
    content_type = (header_value(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _replay(body: bytes, pending: list[Message], receive: Receive) -> Receive:
    queue: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *pending]

    async def replay() -> Message:
        return queue.pop(0) if queue else await receive()

    return replay


async def _refuse_nul(send: Send, location: Location) -> None:
    await send_problem(
        send,
        422,
        "Unprocessable Content",
        "request validation failed",
        [],
        errors=[{"loc": location, "msg": NUL_MESSAGE}],
    )
