"""The web app's routes: pages and htmx partials over the same use cases as /api/v1.

Writes are plain HTML form posts (they work without JavaScript) answered by a redirect to
the page they came from; a refused write comes back as a `toast-error` on that page, and
a write the caller may not do answers 403. Live updates come from `/app/stream`."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from ventros.agents import service as agents
from ventros.agents.ports import SESSION_LOAD
from ventros.audit import service as audit
from ventros.audit.api import event_feed
from ventros.contacts import service as contacts
from ventros.conversations import inbox, scheduling, service_clock
from ventros.conversations import service as conversations
from ventros.conversations.domain import Message, MessageStatus, Session, SessionStatus
from ventros.conversations.repository import SessionFilter
from ventros.conversations.service import labels as session_labels
from ventros.conversations.service import lifecycle, notes, sending
from ventros.identity import service as identity
from ventros.identity.domain import AgentStatus, Principal, Role
from ventros.identity.permissions import Permission, allows, require
from ventros.identity.service import WebSession
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import (
    Conflict,
    DomainError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RuleViolation,
    TooManyRequests,
)
from ventros.kernel.events import DomainEvent
from ventros.media import domain as media
from ventros.media import service as media_files
from ventros.media.api import file_response, get_media_store, upload_chunks
from ventros.pipelines import service as pipelines
from ventros.platform.crypto import SecretBox
from ventros.platform.event_feed import EventFeed
from ventros.platform.outbox import contact_of
from ventros.tracking import service as tracking
from ventros.web import i18n
from ventros.web.auth import (
    SESSION_TTL_SECONDS,
    CheckedWebSession,
    CurrentWebSession,
    clear_session_cookie,
    container_of,
    cookie_value,
    form_of,
    set_session_cookie,
    token_of,
    upload_of,
)
from ventros.web.routing import WebRoute
from ventros.web.templating import render

if TYPE_CHECKING:
    pass

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE_SIZE = 50
MESSAGES_PAGE = 50
HEARTBEAT_SECONDS = 15
# Refused writes come back to their page as one of these (translated there).
TOAST_ERRORS = {
    "denied",
    "forbidden_move",
    "outside_window",
    "conflict",
    "invalid",
    "not_found",
    "file_too_large",
    "file_type",
}


def _locale(request: Request, session: WebSession | None = None) -> str:
    saved = session.locale if session else request.cookies.get("ventros_locale")
    return i18n.choose(saved, request.headers.get("accept-language"))


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --------------------------------------------------------------------------- login


@router.get("/")
async def root(request: Request) -> Response:
    raw = request.cookies.get("ventros_session")
    logged_in = False
    token = token_of(container_of(request), raw)
    if token:
        try:
            await identity.resolve_web_session(container_of(request).uow, token)
            logged_in = True
        except NotAuthenticated:
            logged_in = False
    return RedirectResponse("/app/inbox" if logged_in else "/login", status_code=303)


@router.get("/login")
async def login_page(request: Request, expired: bool = False) -> Response:
    return render(
        request, "login.html", {"error": False, "expired": expired}, locale=_locale(request)
    )


@router.post("/login")
async def login(request: Request) -> Response:
    form = await form_of(request)
    locale = _locale(request)
    container = container_of(request)
    try:
        session = await identity.open_web_session(
            container.uow,
            container.rate_limits,
            email=form.get("email", "")[:320],
            password=form.get("password", "")[:256],
            client_ip=_client_ip(request),
            locale=None,
            ttl_seconds=SESSION_TTL_SECONDS,
        )
    except (NotAuthenticated, TooManyRequests) as error:
        # One message for any failure: no hint whether the email exists.
        status = 429 if isinstance(error, TooManyRequests) else 401
        return render(
            request,
            "login.html",
            {"error": True, "expired": False, "email": form.get("email", "")},
            locale=locale,
            status_code=status,
        )
    response = RedirectResponse("/app/inbox", status_code=303)
    set_session_cookie(response, request, cookie_value(container, session.token))
    return response


@router.post("/logout")
async def logout(request: Request, session: CheckedWebSession) -> Response:
    await identity.revoke_web_session(container_of(request).uow, session.token)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.get("/app")
async def app_home() -> Response:
    return RedirectResponse("/app/inbox", status_code=303)


# --------------------------------------------------------------------------- the shell


@dataclass(frozen=True)
class Shell:
    """What the header of every page needs."""

    session: WebSession
    principal: Principal
    name: str
    status: str
    locale: str

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    @property
    def hx_headers(self) -> str:
        return json.dumps({"X-CSRF-Token": self.session.csrf_token})

    @property
    def is_admin(self) -> bool:
        return self.principal.role is Role.ADMIN

    @property
    def can_write(self) -> bool:
        return self.principal.role is not Role.VIEWER

    @property
    def supervises(self) -> bool:
        return allows(self.principal.role, Permission.SESSIONS_ASSIGN_ANY)

    @property
    def manages_service(self) -> bool:
        """Teams, routing, replies or labels: the service settings screen is theirs."""
        return allows(self.principal.role, Permission.AGENTS_MANAGE)


async def shell_of(request: Request, session: CurrentWebSession) -> Shell:
    user = await identity.get_user(
        container_of(request).uow, session.principal, session.principal.user_id
    )
    return Shell(
        session, session.principal, user.name, user.status.value, _locale(request, session)
    )


ShellDep = Annotated[Shell, Depends(shell_of)]


def _page(
    request: Request, shell: Shell, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    toast_error = request.query_params.get("toast_error")
    toast_info = request.query_params.get("toast_info")
    return render(
        request,
        template,
        {
            "shell": shell,
            "toast_error": toast_error if toast_error in TOAST_ERRORS else None,
            "toast_info": toast_info,
            **context,
        },
        locale=shell.locale,
        status_code=status_code,
    )


def _back(path: str, **query: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, status_code=303)


def _toast_code(error: DomainError | media.MediaTooLarge) -> str:
    if isinstance(error, media.MediaTooLarge):
        return "file_too_large"
    if isinstance(error, media.UnsupportedMedia):
        return "file_type"
    if isinstance(error, sending.OutsideWindow):
        return "outside_window"
    if isinstance(error, PermissionDenied):
        return "denied"
    if isinstance(error, Conflict):
        return "conflict"
    if isinstance(error, NotFound):
        return "not_found"
    if isinstance(error, RuleViolation) and error.field == "stage_id":
        return "forbidden_move"
    return "invalid"


@router.post("/app/locale")
async def switch_locale(request: Request, session: CheckedWebSession) -> Response:
    chosen = i18n.supported((await form_of(request)).get("locale"))
    if chosen is None:
        return Response(status_code=422)
    await identity.save_web_locale(container_of(request).uow, session.token, chosen)
    back = request.headers.get("hx-current-url") or "/app/inbox"
    return Response(status_code=204, headers={"HX-Redirect": back})


@router.post("/app/agent-status")
async def agent_status(request: Request, session: CheckedWebSession) -> Response:
    raw = (await form_of(request)).get("status", "")
    try:
        status = AgentStatus(raw)
    except ValueError:
        return Response(status_code=422)
    principal = session.principal
    container = container_of(request)
    load = container.ports.get(SESSION_LOAD)  # conversations provides it
    await agents.set_status(container.uow, principal, principal.user_id, status, load=load)
    return Response(status_code=204)


# --------------------------------------------------------------------------- inbox

View = Annotated[str, Query(pattern="^(mine|unassigned|all|closed|mentions)$")]
Search = Annotated[str | None, Query(max_length=100)]
LabelFilter = Annotated[str | None, Query(max_length=40)]


def _default_view(shell: Shell) -> str:
    return "mine" if shell.principal.role is Role.AGENT else "all"


def _after(raw: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not raw or "_" not in raw:
        return None
    at, _, session_id = raw.partition("_")
    try:
        return datetime.fromtimestamp(int(at) / 1_000_000, tz=UTC), uuid.UUID(session_id)
    except ValueError:
        return None


def _cursor(after: tuple[datetime, uuid.UUID] | None) -> str | None:
    if after is None:
        return None
    at, session_id = after
    return f"{int(at.timestamp() * 1_000_000)}_{session_id}"


def _uuid_or_none(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


async def _inbox_context(
    request: Request,
    shell: Shell,
    view: str | None,
    q: str | None,
    after: str | None,
    label: str | None = None,
) -> dict[str, Any]:
    chosen = view or _default_view(shell)
    label_id = _uuid_or_none(label)
    uow = container_of(request).uow
    page = await inbox.list_inbox(
        uow,
        shell.principal,
        view=chosen,
        search=(q or "").strip() or None,
        limit=PAGE_SIZE,
        after=_after(after),
        label_id=label_id,
    )
    return {
        "view": chosen,
        "q": q or "",
        "label_id": label_id,
        "label_catalogue": await session_labels.list_labels(uow, shell.principal),
        "items": page.items,
        "next_cursor": _cursor(page.next_after),
        "window_open_since": utcnow() - sending.WINDOW,
        "list_query": urlencode({"view": chosen, "q": q or "", "label": label_id or ""}),
    }


@router.get("/app/inbox")
async def inbox_page(
    request: Request,
    shell: ShellDep,
    view: View | None = None,
    q: Search = None,
    after: str | None = None,
    label: LabelFilter = None,
) -> Response:
    context = await _inbox_context(request, shell, view, q, after, label)
    return _page(request, shell, "inbox.html", {**context, "conversation": None})


@router.get("/app/inbox/list")
async def inbox_list(
    request: Request,
    shell: ShellDep,
    view: View | None = None,
    q: Search = None,
    after: str | None = None,
    current: uuid.UUID | None = None,
    label: LabelFilter = None,
) -> Response:
    context = await _inbox_context(request, shell, view, q, after, label)
    return _page(request, shell, "_inbox_items.html", {**context, "current_id": current})


# --------------------------------------------------------------------------- conversation


@dataclass(frozen=True)
class Controls:
    """What the caller may do on this session, mirroring the use cases' own checks."""

    can_write: bool
    can_act: bool  # reply, close, transfer: the owner, or a supervisor
    can_take: bool
    can_assign: bool
    window_open: bool
    can_note: bool  # private notes and labels: any writer, in any session of the tenant

    @classmethod
    def of(cls, shell: Shell, session: Session) -> Controls:
        is_open = session.status is SessionStatus.OPEN
        owner = session.agent_id == shell.principal.user_id
        can_write = shell.can_write
        last_inbound = session.last_inbound_at
        return cls(
            can_write=can_write,
            can_act=can_write and is_open and (owner or shell.supervises),
            can_take=can_write and is_open and session.agent_id is None and not shell.supervises,
            can_assign=can_write and is_open and shell.supervises,
            window_open=last_inbound is not None and utcnow() - last_inbound <= sending.WINDOW,
            can_note=can_write,
        )


async def _people(request: Request, shell: Shell, messages: list[Message]) -> dict[uuid.UUID, str]:
    """Users' names by id, for who wrote the private notes among `messages` (none: no
    query, so a live refresh of a plain conversation costs nothing more)."""
    if not any(message.is_note for message in messages):
        return {}
    users = await identity.list_users(container_of(request).uow, shell.principal)
    return {user.id: user.name for user in users}


def _message_status(message: Message) -> str:
    return "queued" if message.status is MessageStatus.PENDING else message.status.value


async def _contact_panel(request: Request, shell: Shell, contact_id: uuid.UUID) -> dict[str, Any]:
    uow = container_of(request).uow
    principal = shell.principal
    contact = await contacts.get_contact(uow, principal, contact_id)
    pipeline_page = await pipelines.list_pipelines(uow, principal, limit=20)
    stages = await pipelines.contact_stages(
        uow, principal, contact_id, [p.id for p in pipeline_page.items]
    )
    trackings = await tracking.list_trackings(uow, principal, contact_id=contact_id, limit=5)
    past = await conversations.list_sessions(
        uow, principal, SessionFilter(contact_id=contact_id), limit=20
    )
    return {
        "contact": contact,
        "pipelines": pipeline_page.items,
        "stages": stages,
        "trackings": trackings.items,
        "past_sessions": [s for s in past.items if s.csat_score is not None],
    }


async def _conversation_context(
    request: Request, shell: Shell, session_id: uuid.UUID
) -> dict[str, Any]:
    uow = container_of(request).uow
    conversation = await inbox.open_conversation(
        uow, shell.principal, session_id, limit=MESSAGES_PAGE
    )
    agents_list = (
        [u for u in await identity.list_users(uow, shell.principal) if u.role is not Role.VIEWER]
        if shell.can_write
        else []
    )
    return {
        "people": await _people(request, shell, conversation.messages),
        "session_labels": await session_labels.session_labels(uow, shell.principal, session_id),
        "conversation": conversation,
        "session": conversation.session,
        "messages": conversation.messages,
        "older_before": conversation.older_before,
        "controls": Controls.of(shell, conversation.session),
        "agents": agents_list,
        "message_status": _message_status,
        **await _contact_panel(request, shell, conversation.session.contact_id),
    }


@router.get("/app/inbox/{session_id}")
async def conversation_page(
    request: Request,
    session_id: uuid.UUID,
    shell: ShellDep,
    view: View | None = None,
    q: Search = None,
    label: LabelFilter = None,
) -> Response:
    try:
        conversation = await _conversation_context(request, shell, session_id)
    except NotFound:
        return _page(request, shell, "error.html", {"code": 404}, status_code=404)
    context = await _inbox_context(request, shell, view, q, None, label)
    return _page(
        request, shell, "inbox.html", {**context, **conversation, "current_id": session_id}
    )


@router.get("/app/inbox/{session_id}/messages")
async def conversation_messages(
    request: Request, session_id: uuid.UUID, shell: ShellDep, before: uuid.UUID | None = None
) -> Response:
    """The latest messages (live refresh), or those before `before` (paging back)."""
    try:
        conversation = await inbox.open_conversation(
            container_of(request).uow,
            shell.principal,
            session_id,
            limit=MESSAGES_PAGE,
            before=before,
            mark_as_read=True,
        )
    except NotFound:
        return Response(status_code=404)
    return _page(
        request,
        shell,
        "_messages.html",
        {
            "session": conversation.session,
            "messages": conversation.messages,
            "older_before": conversation.older_before,
            "message_status": _message_status,
            "people": await _people(request, shell, conversation.messages),
        },
    )


def _box(request: Request) -> SecretBox:
    return container_of(request).secret_box


async def _owned_session(request: Request, shell: Shell, session_id: uuid.UUID) -> Session:
    """The session, if the caller may write in it (else 403, or 404 for another tenant's)."""
    session = await conversations.get_session(
        container_of(request).uow, shell.principal, session_id
    )
    if not Controls.of(shell, session).can_act:
        raise PermissionDenied("only the session's agent or a supervisor may do this")
    return session


def _parse_local(raw: str) -> datetime:
    """A `datetime-local` value, read in the app's time zone."""
    from ventros.web.templating import _zone

    try:
        naive = datetime.fromisoformat(raw)
    except ValueError as error:
        raise RuleViolation("invalid date and time", field="send_at") from error
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=_zone()).astimezone(UTC)


async def _act(path: str, action: Any) -> Response:
    """Runs a write and goes back to its page, with a toast saying how it went."""
    try:
        info = await action()
    except PermissionDenied:
        raise
    except (DomainError, media.MediaTooLarge) as error:
        return _back(path, toast_error=_toast_code(error))
    return _back(path, toast_info=info)


async def _kept(request: Request, shell: Shell, upload: UploadFile) -> media.MediaFile:
    """The composer's attachment, kept by media under the API's rules (WhatsApp's types,
    16 MiB): MediaTooLarge or UnsupportedMedia otherwise."""
    store = await get_media_store(request, container_of(request))
    return await media_files.store_upload(
        container_of(request).uow,
        store,
        shell.principal,
        upload_chunks(upload),
        filename=upload.filename,
        mimetype=upload.content_type,
    )


async def _composed(
    request: Request,
    shell: Shell,
    current: Session,
    form: dict[str, str],
    upload: UploadFile | None,
) -> sending.SendMessage:
    """What the composer asks to send: its text, or its file (uploaded, or a canned reply's)
    with the text as caption."""
    text = form.get("text", "")
    canned_media = _uuid_or_none(form.get("canned_media_id", "").strip())
    if upload is None and canned_media is not None:
        kept = await media_files.get_media(container_of(request).uow, shell.principal, canned_media)
        return sending.SendMessage(
            contact_id=current.contact_id,
            channel_id=current.channel_id,
            type=media.message_type(kept.mimetype),
            media_id=kept.id,
            caption=text.strip() or None,
            filename=kept.filename,
        )
    if upload is None:
        return sending.SendMessage(
            contact_id=current.contact_id, channel_id=current.channel_id, type="text", text=text
        )
    kept = await _kept(request, shell, upload)
    return sending.SendMessage(
        contact_id=current.contact_id,
        channel_id=current.channel_id,
        type=media.message_type(kept.mimetype),
        media_id=kept.id,
        caption=text.strip() or None,
        filename=kept.filename,
    )


@router.post("/app/inbox/{session_id}/send")
async def send(
    request: Request, session_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    require(shell.principal, Permission.MESSAGES_SEND)
    form = await form_of(request)
    upload = await upload_of(request, "file")
    path = f"/app/inbox/{session_id}"
    if form.get("note"):
        if upload is not None:
            await upload.close()
        return await _add_note(request, shell, session_id, form.get("text", ""))

    async def run() -> str:
        current = await _owned_session(request, shell, session_id)
        command = await _composed(request, shell, current, form, upload)
        send_at = form.get("send_at", "").strip()
        container = container_of(request)
        if not send_at:
            await sending.send_message(container.uow, shell.principal, _box(request), command)
            return "sent"
        when = _parse_local(send_at)
        if when <= utcnow():
            raise RuleViolation("the time must be in the future", field="send_at")
        scheduled_id = await sending.record_scheduled(
            container.uow, shell.principal, _box(request), command, send_at=when
        )
        await scheduling.start_scheduled(
            scheduling.ScheduledInput(
                tenant_id=str(shell.principal.tenant_id),
                message_id=str(scheduled_id),
                send_at=when.isoformat(),
                command=command.to_json(),
                user_id=str(shell.principal.user_id),
            ),
            temporal=container.temporal,
        )
        return "scheduled"

    try:
        return await _act(path, run)
    finally:
        if upload is not None:
            await upload.close()


async def _add_note(request: Request, shell: Shell, session_id: uuid.UUID, text: str) -> Response:
    """A private note from the composer (its note toggle on): never sent to WhatsApp, and
    allowed to any writer in any session, so it needs no ownership check."""

    async def run() -> str:
        await notes.add_note(container_of(request).uow, shell.principal, session_id, text)
        return "noted"

    return await _act(f"/app/inbox/{session_id}", run)


@router.get("/app/media/{media_id}")
async def media_file(request: Request, media_id: uuid.UUID, shell: ShellDep) -> Response:
    """A file Ventros keeps (an attachment, a customer's photo), for the logged-in page:
    the API's link wants a bearer token the browser does not have."""
    require(shell.principal, Permission.MESSAGES_READ)
    container = container_of(request)
    file = await media_files.get_media(container.uow, shell.principal, media_id)
    store = await get_media_store(request, container)
    return await file_response(
        store, file, presign_seconds=container.settings.media_presign_seconds
    )


@router.post("/app/inbox/{session_id}/take")
async def take(request: Request, session_id: uuid.UUID, session: CheckedWebSession) -> Response:
    principal = session.principal
    require(principal, Permission.SESSIONS_ACT_OWN)

    async def run() -> str:
        command = lifecycle.AssignSession(agent_id=principal.user_id)
        await lifecycle.assign_session(container_of(request).uow, principal, session_id, command)
        return "taken"

    return await _act(f"/app/inbox/{session_id}", run)


@router.post("/app/inbox/{session_id}/assign")
async def assign(request: Request, session_id: uuid.UUID, session: CheckedWebSession) -> Response:
    principal = session.principal
    require(principal, Permission.SESSIONS_ASSIGN_ANY)
    raw = (await form_of(request)).get("agent_id", "")

    async def run() -> str:
        try:
            agent_id = uuid.UUID(raw)
        except ValueError as error:
            raise RuleViolation("choose an agent", field="agent_id") from error
        command = lifecycle.AssignSession(agent_id=agent_id)
        await lifecycle.assign_session(container_of(request).uow, principal, session_id, command)
        return "assigned"

    return await _act(f"/app/inbox/{session_id}", run)


@router.post("/app/inbox/{session_id}/transfer")
async def transfer(request: Request, session_id: uuid.UUID, session: CheckedWebSession) -> Response:
    principal = session.principal
    require(principal, Permission.SESSIONS_ACT_OWN)
    form = await form_of(request)
    # Forbidden before anything else, so a crafted post is a 403 and not a toast.
    current = await conversations.get_session(container_of(request).uow, principal, session_id)
    if (
        not allows(principal.role, Permission.SESSIONS_ASSIGN_ANY)
        and current.agent_id != principal.user_id
    ):
        raise PermissionDenied("an agent may transfer only their own sessions")

    async def run() -> str:
        try:
            to_agent = uuid.UUID(form.get("to_agent_id", ""))
        except ValueError as error:
            raise RuleViolation("choose an agent", field="to_agent_id") from error
        note = form.get("note", "").strip()[:2000] or None
        await lifecycle.transfer_session(
            container_of(request).uow, principal, session_id, to_agent_id=to_agent, note=note
        )
        return "transferred"

    return await _act(f"/app/inbox/{session_id}", run)


@router.post("/app/inbox/{session_id}/close")
async def close(request: Request, session_id: uuid.UUID, session: CheckedWebSession) -> Response:
    principal = session.principal
    require(principal, Permission.SESSIONS_ACT_OWN)
    current = await conversations.get_session(container_of(request).uow, principal, session_id)
    if (
        not allows(principal.role, Permission.SESSIONS_ASSIGN_ANY)
        and current.agent_id != principal.user_id
    ):
        raise PermissionDenied("an agent may close only their own sessions")

    async def run() -> str:
        await lifecycle.close_session(container_of(request).uow, principal, session_id, reason=None)
        return "closed"

    return await _act(f"/app/inbox/{session_id}", run)


@router.post("/app/inbox/{session_id}/snooze")
async def snooze(request: Request, session_id: uuid.UUID, session: CheckedWebSession) -> Response:
    principal = session.principal
    require(principal, Permission.SESSIONS_ACT_OWN)
    raw = (await form_of(request)).get("until", "").strip()
    container = container_of(request)

    async def run() -> str:
        if not raw:
            raise RuleViolation("choose when the conversation comes back", field="until")
        await service_clock.snooze_session(
            container.uow,
            principal,
            session_id,
            until=_parse_local(raw),
            temporal=container.temporal,
        )
        return "snoozed"

    return await _act(f"/app/inbox/{session_id}", run)


# --------------------------------------------------------------------------- contact panel


def _return_to(form: dict[str, str], contact_id: uuid.UUID) -> str:
    back = form.get("next", "")
    # Only our own pages: never an open redirect.
    if back.startswith("/app/") and "//" not in back and "\\" not in back:
        return back
    return f"/app/contacts/{contact_id}"


@router.post("/app/contacts/{contact_id}")
async def update_contact(
    request: Request, contact_id: uuid.UUID, session: CheckedWebSession
) -> Response:
    principal = session.principal
    require(principal, Permission.CONTACTS_WRITE)
    form = await form_of(request)
    fields: dict[str, Any] = {}
    if "name" in form:
        fields["name"] = form["name"].strip()
    if "tags" in form:
        tags = [t.strip() for t in form["tags"].split(",") if t.strip()]
        fields["tags"] = list(dict.fromkeys(tags))
    if form.get("field_key", "").strip():
        contact = await contacts.get_contact(container_of(request).uow, principal, contact_id)
        custom = dict(contact.custom_fields)
        value = form.get("field_value", "").strip()
        if value:
            custom[form["field_key"].strip()[:100]] = value[:1000]
        else:
            custom.pop(form["field_key"].strip(), None)
        fields["custom_fields"] = custom

    async def run() -> str:
        await contacts.update_contact(
            container_of(request).uow, principal, contact_id, contacts.UpdateContact(fields)
        )
        return "saved"

    return await _act(_return_to(form, contact_id), run)


@router.post("/app/contacts/{contact_id}/stage")
async def move_stage(
    request: Request, contact_id: uuid.UUID, session: CheckedWebSession
) -> Response:
    principal = session.principal
    require(principal, Permission.PIPELINES_MOVE)
    form = await form_of(request)

    async def run() -> str:
        pipeline_raw, _, stage_raw = form.get("stage", "").partition(":")
        try:
            pipeline_id, stage_id = uuid.UUID(pipeline_raw), uuid.UUID(stage_raw)
        except ValueError as error:
            raise RuleViolation("choose a stage", field="stage") from error
        command = pipelines.MoveContact(contact_id, pipeline_id, stage_id)
        await pipelines.move_contact(container_of(request).uow, principal, command)
        return "moved"

    return await _act(_return_to(form, contact_id), run)


# --------------------------------------------------------------------------- live updates

LastEventId = Annotated[str | None, Header(alias="Last-Event-ID")]
LIVE_EVENTS = ("session.", "message.")
PIPELINE_MOVE_EVENT = "contact.pipeline_status_changed"
PIPELINE_EDIT_EVENT = "pipeline.updated"


def _session_of(event: DomainEvent) -> str | None:
    if event.aggregate_type == "session":
        return str(event.aggregate_id)
    session_id = event.payload.get("session_id")
    return str(session_id) if session_id else None


def _contact_nudges(event: DomainEvent) -> list[ServerSentEvent]:
    """`contact-<id>` (its page's timeline refreshes) for any event about a contact, and
    `pipeline-<id>` (its kanban refreshes) when someone moves a contact between stages or
    edits the pipeline."""
    nudges = []
    contact_id = contact_of(event)
    if contact_id:
        nudges.append(
            ServerSentEvent(data=event.name, event=f"contact-{contact_id}", id=str(event.id))
        )
    pipeline_id = event.payload.get("pipeline_id")
    if event.name in (PIPELINE_MOVE_EVENT, PIPELINE_EDIT_EVENT) and pipeline_id:
        nudges.append(
            ServerSentEvent(
                data=str(contact_id or pipeline_id),
                event=f"pipeline-{pipeline_id}",
                id=str(event.id),
            )
        )
    return nudges


def _nudges(event: DomainEvent) -> list[ServerSentEvent]:
    """A conversation event also nudges `inbox` (lists refresh) and `session-<id>` (that
    conversation refreshes). Pages re-read; no data rides along."""
    nudges = _contact_nudges(event)
    session_id = _session_of(event) if event.name.startswith(LIVE_EVENTS) else None
    if session_id is not None:
        nudges.append(ServerSentEvent(data=session_id, event="inbox", id=str(event.id)))
        nudges.append(
            ServerSentEvent(data=event.name, event=f"session-{session_id}", id=str(event.id))
        )
    return nudges


async def _live(pages: AsyncIterator[list[DomainEvent]]) -> AsyncIterator[bytes]:
    """The nudges of each page of events as one write (as the API's streams do)."""
    async for page in pages:
        nudges = [nudge.encode() for event in page for nudge in _nudges(event)]
        if nudges:
            yield b"".join(nudges)


@router.get("/app/stream")
async def stream(
    request: Request, session: CurrentWebSession, last_event_id: LastEventId = None
) -> Response:
    require(session.principal, Permission.EVENTS_READ)
    feed: EventFeed = await event_feed(request, container_of(request))
    try:
        after = uuid.UUID(last_event_id) if last_event_id else None
    except ValueError:
        after = None
    pages = audit.follow_pages(container_of(request).uow, session.principal, feed, after=after)
    return EventSourceResponse(_live(pages), ping=HEARTBEAT_SECONDS)


# --------------------------------------------------------------------------- other pages


@router.get("/app/{section}")
async def unknown_section(request: Request, section: str, shell: ShellDep) -> Response:  # noqa: ARG001
    """The app's own 404 page for any other /app page. (Last: it would otherwise answer
    for /app/stream, and the screens' routers come before this one.)"""
    return _page(request, shell, "error.html", {"code": 404}, status_code=404)
