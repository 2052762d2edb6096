"""The conversation screen's productivity tools: canned reply suggestions for the
composer (`/` and a few letters) and the session's labels. Private notes go through the
composer's own post (views.send, with its note toggle on)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ventros.conversations.service import labels as session_labels
from ventros.identity.permissions import Permission, require
from ventros.kernel.errors import RuleViolation
from ventros.replies import service as replies
from ventros.web.auth import CheckedWebSession, container_of, form_of
from ventros.web.routing import WebRoute
from ventros.web.views import ShellDep, _act, _page

router = APIRouter(include_in_schema=False, route_class=WebRoute)

SUGGESTIONS = 8
# What the agent typed is a shortcut being looked up: a slash and letters, nothing else.
TYPED_SHORTCUT = re.compile(r"/[\w-]{1,40}")


@router.get("/app/inbox/{session_id}/canned")
async def canned_suggestions(
    request: Request,
    session_id: uuid.UUID,
    shell: ShellDep,
    text: Annotated[str, Query(max_length=4096)] = "",
) -> Response:
    """The composer's suggestions while its text is `/` and letters, each filled for this
    session's contact and the agent; nothing otherwise."""
    typed = text.strip()
    found: list[replies.RenderedReply] = []
    if shell.can_write and TYPED_SHORTCUT.fullmatch(typed):
        found = await replies.suggest(
            container_of(request).uow, shell.principal, session_id, typed, limit=SUGGESTIONS
        )
    return _page(request, shell, "_canned_suggestions.html", {"suggestions": found})


def _chosen_label(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise RuleViolation("choose a label", field="label_id") from error


@router.post("/app/inbox/{session_id}/labels")
async def add_label(
    request: Request, session_id: uuid.UUID, session: CheckedWebSession
) -> Response:
    principal = session.principal
    require(principal, Permission.MESSAGES_SEND)
    raw = (await form_of(request)).get("label_id", "")

    async def run() -> str:
        await session_labels.add_session_label(
            container_of(request).uow, principal, session_id, _chosen_label(raw)
        )
        return "labeled"

    return await _act(f"/app/inbox/{session_id}", run)


@router.post("/app/inbox/{session_id}/labels/{label_id}/remove")
async def remove_label(
    request: Request, session_id: uuid.UUID, label_id: uuid.UUID, session: CheckedWebSession
) -> Response:
    principal = session.principal
    require(principal, Permission.MESSAGES_SEND)

    async def run() -> str:
        await session_labels.remove_session_label(
            container_of(request).uow, principal, session_id, label_id
        )
        return "unlabeled"

    return await _act(f"/app/inbox/{session_id}", run)
