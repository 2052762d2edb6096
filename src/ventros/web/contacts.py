"""The contacts screens: the searchable list with its create form, and one contact's page
(details and edit, timeline, sessions, merge, and for admins the LGPD export and
anonymisation). Same use cases as /api/v1/contacts; refusals come back as toasts."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ventros.audit import service as audit
from ventros.contacts import merge
from ventros.contacts import service as contacts
from ventros.contacts.repository import ContactFilter
from ventros.conversations import service as conversations
from ventros.conversations.repository import SessionFilter
from ventros.identity.permissions import Permission, require
from ventros.kernel.errors import Conflict, NotFound, PermissionDenied, RuleViolation
from ventros.privacy import service as privacy
from ventros.privacy.schemas import ContactExportRead
from ventros.web.auth import CheckedWebSession, container_of, form_of
from ventros.web.routing import WebRoute
from ventros.web.views import Shell, ShellDep, _back, _page

router = APIRouter(include_in_schema=False, route_class=WebRoute)

CONTACTS_PAGE = 50
TIMELINE_PAGE = 50
SESSIONS_SHOWN = 20
# Refusals of this screen, shown by its own toast block (translated in the template).
CONTACT_TOASTS = {"merge_self", "merge_missing", "confirm_anonymise", "invalid_email"}
Search = Annotated[str | None, Query(max_length=100)]
Tag = Annotated[str | None, Query(max_length=100)]


def _screen(
    request: Request, shell: Shell, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    code = request.query_params.get("contact_toast")
    toast = code if code in CONTACT_TOASTS else None
    return _page(request, shell, template, {"contact_toast": toast, **context}, status_code)


def _tags(raw: str) -> list[str]:
    return list(dict.fromkeys(t.strip()[:100] for t in raw.split(",") if t.strip()))


# --------------------------------------------------------------------------- the list


async def _list_context(
    request: Request, shell: Shell, q: str | None, tag: str | None, before: uuid.UUID | None
) -> dict[str, Any]:
    search = (q or "").strip() or None
    chosen_tag = (tag or "").strip() or None
    page = await contacts.list_contacts(
        container_of(request).uow,
        shell.principal,
        ContactFilter(q=search, tag=chosen_tag),
        limit=CONTACTS_PAGE,
        before=before,
    )
    query = {"q": search or "", "tag": chosen_tag or ""}
    return {
        "q": search or "",
        "tag": chosen_tag or "",
        "rows": page.items,
        "next_before": page.next_before,
        "list_query": urlencode(query),
    }


def _form_defaults() -> dict[str, Any]:
    return {"form": {"name": "", "phone": "", "email": "", "tags": ""}, "errors": {}}


@router.get("/app/contacts")
async def contacts_page(
    request: Request,
    shell: ShellDep,
    q: Search = None,
    tag: Tag = None,
    before: uuid.UUID | None = None,
) -> Response:
    require(shell.principal, Permission.CONTACTS_READ)
    context = await _list_context(request, shell, q, tag, before)
    return _screen(request, shell, "contacts.html", {**context, **_form_defaults()})


@router.get("/app/contacts/rows")
async def contact_rows(
    request: Request,
    shell: ShellDep,
    q: Search = None,
    tag: Tag = None,
    before: uuid.UUID | None = None,
) -> Response:
    """The table's rows for a search as you type, or its next page."""
    require(shell.principal, Permission.CONTACTS_READ)
    context = await _list_context(request, shell, q, tag, before)
    return _page(request, shell, "_contact_rows.html", context)


def _field_error(error: RuleViolation) -> str:
    return error.field if error.field in {"name", "phone", "email", "tags"} else "name"


@router.post("/app/contacts")
async def create_contact(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    require(shell.principal, Permission.CONTACTS_WRITE)
    form = await form_of(request)
    values = {key: form.get(key, "").strip() for key in ("name", "phone", "email", "tags")}
    command = contacts.CreateContact(
        name=values["name"][:200],
        phone=values["phone"][:40] or None,
        email=values["email"][:320] or None,
        tags=_tags(values["tags"]),
    )
    errors: dict[str, str] = {}
    existing_id: uuid.UUID | None = None
    status = 422
    if not command.name:
        errors["name"] = "required"
    else:
        try:
            created = await contacts.create_contact(
                container_of(request).uow, shell.principal, command
            )
        except RuleViolation as error:
            errors[_field_error(error)] = "invalid"
        except Conflict as error:
            existing_id, status = error.existing_id, 409
        else:
            return _back(f"/app/contacts/{created.id}", toast_info="created")
    context = await _list_context(request, shell, None, None, None)
    return _screen(
        request,
        shell,
        "contacts.html",
        {**context, "form": values, "errors": errors, "existing_id": existing_id},
        status_code=status,
    )


# --------------------------------------------------------------------------- one contact


async def _contact_context(request: Request, shell: Shell, contact_id: uuid.UUID) -> dict[str, Any]:
    uow = container_of(request).uow
    contact = await contacts.get_contact(uow, shell.principal, contact_id)
    timeline = await audit.contact_history(
        uow, shell.principal, contact_id, before=None, limit=TIMELINE_PAGE
    )
    sessions = await conversations.list_sessions(
        uow, shell.principal, SessionFilter(contact_id=contact_id), limit=SESSIONS_SHOWN
    )
    return {
        "contact": contact,
        "events": timeline.items,
        "older_before": timeline.items[-1].id if timeline.has_more else None,
        "sessions": sessions.items,
    }


@router.get("/app/contacts/{contact_id}")
async def contact_page(request: Request, contact_id: uuid.UUID, shell: ShellDep) -> Response:
    require(shell.principal, Permission.CONTACTS_READ)
    try:
        context = await _contact_context(request, shell, contact_id)
    except NotFound:
        return _page(request, shell, "error.html", {"code": 404}, status_code=404)
    return _screen(request, shell, "contact.html", context)


@router.get("/app/contacts/{contact_id}/timeline")
async def contact_timeline(
    request: Request, contact_id: uuid.UUID, shell: ShellDep, before: uuid.UUID | None = None
) -> Response:
    """The newest events (live refresh), or those before `before` (paging back)."""
    page = await audit.contact_history(
        container_of(request).uow, shell.principal, contact_id, before=before, limit=TIMELINE_PAGE
    )
    return _page(
        request,
        shell,
        "_contact_timeline.html",
        {
            "contact_id": contact_id,
            "events": page.items,
            "older_before": page.items[-1].id if page.has_more else None,
        },
    )


@router.get("/app/contacts/{contact_id}/duplicates")
async def contact_duplicates(request: Request, contact_id: uuid.UUID, shell: ShellDep) -> Response:
    """Suggested duplicates, loaded after the page (the comparison reads every contact)."""
    uow = container_of(request).uow
    pairs = await merge.duplicates_of(uow, shell.principal, contact_id)
    found = await contacts.contacts_by_ids(uow, shell.principal, [p.duplicate_id for p in pairs])
    suggestions = [(found[p.duplicate_id], p.reason) for p in pairs if p.duplicate_id in found]
    return _page(
        request,
        shell,
        "_contact_duplicates.html",
        {"contact_id": contact_id, "suggestions": suggestions},
    )


def _here(contact_id: uuid.UUID) -> str:
    return f"/app/contacts/{contact_id}"


@router.post("/app/contacts/{contact_id}/edit")
async def edit_contact(
    request: Request, contact_id: uuid.UUID, session: CheckedWebSession
) -> Response:
    principal = session.principal
    require(principal, Permission.CONTACTS_WRITE)
    form = await form_of(request)
    fields: dict[str, Any] = {
        "name": form.get("name", "").strip()[:200],
        "email": form.get("email", "").strip()[:320] or None,
        "tags": _tags(form.get("tags", "")),
    }
    try:
        await contacts.update_contact(
            container_of(request).uow, principal, contact_id, contacts.UpdateContact(fields)
        )
    except RuleViolation as error:
        if error.field == "email":
            return _back(_here(contact_id), contact_toast="invalid_email")
        return _back(_here(contact_id), toast_error="invalid")
    except Conflict:
        return _back(_here(contact_id), toast_error="conflict")
    return _back(_here(contact_id), toast_info="saved")


@router.post("/app/contacts/{contact_id}/delete")
async def delete_contact(
    request: Request, contact_id: uuid.UUID, session: CheckedWebSession
) -> Response:
    require(session.principal, Permission.CONTACTS_DELETE)
    await contacts.delete_contact(container_of(request).uow, session.principal, contact_id)
    return _back("/app/contacts", toast_info="deleted")


def _duplicate_id(raw: str) -> uuid.UUID | None:
    """A contact's id, or its page's address pasted whole."""
    candidate = raw.strip().rstrip("/").rsplit("/", 1)[-1]
    try:
        return uuid.UUID(candidate)
    except ValueError:
        return None


@router.post("/app/contacts/{contact_id}/merge")
async def merge_into(
    request: Request, contact_id: uuid.UUID, session: CheckedWebSession
) -> Response:
    """The chosen duplicate merges into this contact (the one whose page this is)."""
    principal = session.principal
    require(principal, Permission.CONTACTS_WRITE)
    container = container_of(request)
    duplicate_id = _duplicate_id((await form_of(request)).get("duplicate_id", ""))
    if duplicate_id is None:
        return _back(_here(contact_id), contact_toast="merge_missing")
    try:
        await merge.merge_contacts(
            container.uow,
            principal,
            contact_id,
            duplicate_id,
            movers=merge.RowMovers.of(container.ports),
        )
    except RuleViolation:
        return _back(_here(contact_id), contact_toast="merge_self")
    except NotFound:
        # Another tenant's contact is, to this tenant, one that does not exist.
        return _back(_here(contact_id), contact_toast="merge_missing")
    return _back(_here(contact_id), toast_info="merged")


def _require_admin(shell: Shell) -> None:
    if not shell.is_admin:
        raise PermissionDenied("only an admin may export or anonymise a contact")


@router.get("/app/contacts/{contact_id}/export")
async def export_contact(request: Request, contact_id: uuid.UUID, shell: ShellDep) -> Response:
    """Everything stored about the contact, as the API's LGPD export, as a download."""
    _require_admin(shell)
    exported = await privacy.export_contact(container_of(request).uow, shell.principal, contact_id)
    body = ContactExportRead(contact=exported.contact, **exported.sections).model_dump_json()
    return Response(
        body,
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="contact-{contact_id}.json"'},
    )


@router.get("/app/contacts/{contact_id}/anonymise")
async def anonymise_confirmation(
    request: Request, contact_id: uuid.UUID, shell: ShellDep
) -> Response:
    _require_admin(shell)
    try:
        contact = await contacts.get_contact(container_of(request).uow, shell.principal, contact_id)
    except NotFound:
        return _page(request, shell, "error.html", {"code": 404}, status_code=404)
    return _screen(request, shell, "contact_anonymise.html", {"contact": contact})


@router.post("/app/contacts/{contact_id}/anonymise")
async def anonymise_contact(
    request: Request, contact_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    _require_admin(shell)
    if (await form_of(request)).get("confirm") != "yes":
        return _back(f"{_here(contact_id)}/anonymise", contact_toast="confirm_anonymise")
    await privacy.anonymize_contact(container_of(request).uow, shell.principal, contact_id)
    return _back("/app/contacts", toast_info="anonymised")
