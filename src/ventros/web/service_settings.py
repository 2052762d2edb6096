"""The service settings screen (admins and supervisors): canned replies, conversation labels,
teams and their members, routing rules, business hours and SLA policies.

Like the settings screen, each form is read by its `/api/v1` route's request model and runs
the same use case, so the rules (unknown reply variables, invalid regular expressions,
overlapping hours, unknown teams) are the API's; a refused form comes back with the message
beside its field (status 422) and what was typed kept. Each section answers to the API's
permission for it: replies REPLIES_MANAGE, labels LABELS_MANAGE, the rest AGENTS_MANAGE.

Hooks, in UI.md's style (`/app/settings/service`, supervisors and admins; reached from the
admin's settings by `settings-service-link`, from a supervisor's header by
`nav-service-settings`): `settings-teams` (`team-row` with `data-team-id`, its
`team-member` chips and `team-member-remove`, `team-member-pick` + `team-member-add`,
`team-delete`; `settings-team-form`), `settings-hours` (`hours-row`, `hours-delete`;
`settings-hours-open`, `settings-hours-form` with `settings-hours-mon` ... `-sun`),
`settings-rules` (`rule-row` in evaluation order, `rule-up`, `rule-delete`;
`settings-rule-open`, `settings-rule-form`), `settings-sla` (`sla-row`, `sla-delete`;
`settings-sla-form`), `settings-replies` (`canned-row`, `canned-delete`;
`settings-canned-form`), `settings-labels` (`label-row` with `data-color`, `label-delete`;
`settings-label-form`). Each `settings-X-form` submits with `settings-X-submit`; a refusal is a
`field-error` with `data-field` = the API's field name (`conditions.pattern`, `weekly.mon`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from ventros.channels import service as channels
from ventros.conversations.schemas import LabelCreate
from ventros.conversations.service import labels
from ventros.identity import service as identity
from ventros.identity.permissions import ANSWERING_ROLES, Permission, allows, require
from ventros.kernel.errors import Conflict, DomainError, NotFound, RuleViolation
from ventros.replies import service as replies
from ventros.replies.schemas import CannedReplyCreate
from ventros.routing import service as routing
from ventros.routing.domain import DEFAULT_TIMEZONE, WEEKDAYS
from ventros.routing.schemas import (
    BusinessHoursCreate,
    RoutingRuleCreate,
    SlaPolicyCreate,
    TeamCreate,
)
from ventros.web.auth import CheckedWebSession, container_of, form_of
from ventros.web.routing import WebRoute
from ventros.web.settings import (
    LIST_LIMIT,
    FieldError,
    Outcome,
    _checked,
    _gettext,
    _rule_errors,
    validation_errors,
)
from ventros.web.views import Shell, ShellDep, _page

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE = "/app/settings/service"
# Whoever holds one of these sees the screen; each section asks for its own.
SECTION_PERMISSIONS = {
    "replies": Permission.REPLIES_MANAGE,
    "labels": Permission.LABELS_MANAGE,
    "teams": Permission.AGENTS_MANAGE,
    "hours": Permission.AGENTS_MANAGE,
    "rules": Permission.AGENTS_MANAGE,
    "sla": Permission.AGENTS_MANAGE,
}


def may_manage_service(shell: Shell) -> bool:
    return any(allows(shell.principal.role, p) for p in SECTION_PERMISSIONS.values())


def _words(raw: str) -> list[str]:
    """A comma-separated field as its distinct, non-empty items."""
    return list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def _optional(form: dict[str, str], name: str) -> str | None:
    return form.get(name, "").strip() or None


# --------------------------------------------------------------------------- the page


async def service_page(
    request: Request, shell: Shell, outcome: Outcome | None = None, status_code: int = 200
) -> Response:
    uow = container_of(request).uow
    principal = shell.principal
    may = {name: allows(principal.role, p) for name, p in SECTION_PERMISSIONS.items()}
    teams = await routing.list_teams(uow, principal)
    users = await identity.list_users(uow, principal)
    context = {
        "active": "settings",
        "may": may,
        "teams": teams,
        "team_names": {t.id: t.name for t in teams},
        "users": {u.id: u for u in users},
        "answering": [u for u in users if u.active and u.role in ANSWERING_ROLES],
        "replies": (await replies.list_replies(uow, principal, limit=LIST_LIMIT)).items
        if may["replies"]
        else [],
        "labels": await labels.list_labels(uow, principal) if may["labels"] else [],
        "hours": await routing.list_hours(uow, principal),
        "rules": await routing.list_rules(uow, principal),
        "policies": await routing.list_policies(uow, principal),
        "channels": (
            await channels.list_channels(
                uow, container_of(request).secret_box, principal, limit=LIST_LIMIT
            )
        ).items,
        "weekdays": WEEKDAYS,
        "default_timezone": DEFAULT_TIMEZONE,
        "outcome": outcome or Outcome(),
    }
    return _page(request, shell, "settings_service.html", context, status_code=status_code)


@router.get(PAGE)
async def service_settings(request: Request, shell: ShellDep) -> Response:
    if not may_manage_service(shell):
        return _page(request, shell, "error.html", {"code": 403}, status_code=403)
    return await service_page(request, shell)


def _saved(anchor: str) -> Response:
    return RedirectResponse(f"{PAGE}?toast_info=saved#{anchor}", status_code=303)


def _errors(error: DomainError, _: Any, taken: str = "name") -> dict[str, FieldError]:
    """A use case's refusal beside its field; a name already taken beside `taken`."""
    if isinstance(error, Conflict):
        return {taken: FieldError(str(_("Already in use.")), error.detail)}
    if isinstance(error, NotFound):
        return {"form": FieldError(str(_("It no longer exists: reload the page.")), error.detail)}
    return _rule_errors(error, _)


Action = Callable[[], Awaitable[object]]


async def _attempt(
    request: Request,
    shell: Shell,
    section: str,
    values: dict[str, str],
    action: Action,
    *,
    taken: str = "name",
    anchor: str | None = None,
) -> Response:
    """Run the form's use case; its refusal (the request model's or the use case's) comes
    back as the page with the message beside the field, the form as typed."""
    _ = _gettext(shell)
    try:
        await action()
    except ValidationError as error:
        errors = validation_errors(error, _)
    except (RuleViolation, Conflict, NotFound) as error:
        errors = _errors(error, _, taken)
    else:
        return _saved(anchor or f"settings-{section}")
    outcome = Outcome(section=section, errors=errors, values=values)
    return await service_page(request, shell, outcome, status_code=422)


async def _removed(request: Request, shell: Shell, section: str, action: Action) -> Response:
    """A delete or a membership change from a row's button: a row gone meanwhile says so
    at the top of its section."""
    return await _attempt(request, shell, section, {}, action)


def _allowed(shell: Shell, section: str) -> None:
    require(shell.principal, SECTION_PERMISSIONS[section])


# --------------------------------------------------------------------------- canned replies


@router.post(f"{PAGE}/replies")
async def create_reply(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    _allowed(shell, "replies")
    form = await form_of(request)
    data: dict[str, Any] = {
        "shortcut": form.get("shortcut", "").strip(),
        "text": form.get("text", ""),
        "team_id": _optional(form, "team_id"),
    }
    values = {k: str(v or "") for k, v in data.items()}

    async def create() -> object:
        body = _checked(CannedReplyCreate, data)
        return await replies.create_reply(
            container_of(request).uow,
            shell.principal,
            shortcut=body.shortcut,
            text=body.text,
            team_id=body.team_id,
        )

    return await _attempt(request, shell, "replies", values, create, taken="shortcut")


@router.post(f"{PAGE}/replies/{{reply_id}}/delete")
async def delete_reply(
    request: Request, reply_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    _allowed(shell, "replies")
    uow = container_of(request).uow
    return await _removed(
        request, shell, "replies", lambda: replies.delete_reply(uow, shell.principal, reply_id)
    )


# --------------------------------------------------------------------------- labels


@router.post(f"{PAGE}/labels")
async def create_label(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    _allowed(shell, "labels")
    form = await form_of(request)
    data: dict[str, Any] = {"name": form.get("name", "").strip(), "color": _optional(form, "color")}
    values = {k: str(v or "") for k, v in data.items()}

    async def create() -> object:
        body = _checked(LabelCreate, data)
        return await labels.create_label(
            container_of(request).uow, shell.principal, name=body.name, color=body.color
        )

    return await _attempt(request, shell, "labels", values, create)


@router.post(f"{PAGE}/labels/{{label_id}}/delete")
async def delete_label(
    request: Request, label_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    _allowed(shell, "labels")
    uow = container_of(request).uow
    return await _removed(
        request, shell, "labels", lambda: labels.delete_label(uow, shell.principal, label_id)
    )


# --------------------------------------------------------------------------- teams


@router.post(f"{PAGE}/teams")
async def create_team(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    _allowed(shell, "teams")
    form = await form_of(request)
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "business_hours_id": _optional(form, "business_hours_id"),
    }
    values = {k: str(v or "") for k, v in data.items()}

    async def create() -> object:
        body = _checked(TeamCreate, data)
        return await routing.create_team(
            container_of(request).uow, shell.principal, body.model_dump(exclude={"follow_up"})
        )

    return await _attempt(request, shell, "teams", values, create)


async def _change_members(
    request: Request, shell: Shell, team_id: uuid.UUID, change: Callable[[list[uuid.UUID]], None]
) -> object:
    uow = container_of(request).uow
    team = await routing.get_team(uow, shell.principal, team_id)
    members = list(team.members)
    change(members)
    return await routing.update_team(uow, shell.principal, team_id, {"members": members})


def _member_of(form: dict[str, str]) -> uuid.UUID:
    try:
        return uuid.UUID(form.get("user_id", "").strip())
    except ValueError:
        raise RuleViolation("choose an agent", field="members") from None


@router.post(f"{PAGE}/teams/{{team_id}}/members")
async def add_member(
    request: Request, team_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    """Put an agent on the team (an unknown one is the API's refusal, beside the team)."""
    _allowed(shell, "teams")
    form = await form_of(request)

    async def add() -> object:
        member = _member_of(form)
        return await _change_members(request, shell, team_id, lambda m: m.append(member))

    # The section is the team's own row: its error shows beside its own member picker.
    return await _attempt(request, shell, f"team-{team_id}", {}, add, anchor="settings-teams")


@router.post(f"{PAGE}/teams/{{team_id}}/members/{{user_id}}/remove")
async def remove_member(
    request: Request,
    team_id: uuid.UUID,
    user_id: uuid.UUID,
    _csrf: CheckedWebSession,
    shell: ShellDep,
) -> Response:
    """Take an agent off the team: they keep the team's sessions they hold."""
    _allowed(shell, "teams")

    def without(members: list[uuid.UUID]) -> None:
        if user_id in members:
            members.remove(user_id)

    return await _removed(
        request, shell, "teams", lambda: _change_members(request, shell, team_id, without)
    )


@router.post(f"{PAGE}/teams/{{team_id}}/delete")
async def delete_team(
    request: Request, team_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    _allowed(shell, "teams")
    uow = container_of(request).uow
    return await _removed(
        request, shell, "teams", lambda: routing.delete_team(uow, shell.principal, team_id)
    )


# --------------------------------------------------------------------------- business hours


def _intervals(raw: str) -> list[list[str]]:
    """ "09:00-12:00, 13:00-18:00" as the API's [[start, end], ...]; a piece without a dash
    goes through as it is, for the use case to refuse beside the day."""
    return [[p.strip() for p in piece.split("-")] for piece in _words(raw)]


async def _team_for_hours(request: Request, shell: Shell, raw: str | None) -> uuid.UUID | None:
    """The team the new schedule is for (none: a schedule for teams to pick later)."""
    if raw is None:
        return None
    try:
        team = await routing.get_team(container_of(request).uow, shell.principal, uuid.UUID(raw))
    except (ValueError, NotFound):
        raise RuleViolation("unknown team", field="team_id") from None
    return team.id


@router.post(f"{PAGE}/hours")
async def create_hours(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    _allowed(shell, "hours")
    form = await form_of(request)
    typed_days = {day: form.get(f"weekly.{day}", "").strip() for day in WEEKDAYS}
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "timezone": form.get("timezone", "").strip() or DEFAULT_TIMEZONE,
        "weekly": {day: _intervals(raw) for day, raw in typed_days.items() if raw},
        "holidays": _words(form.get("holidays", "")),
        "outside_hours_reply": _optional(form, "outside_hours_reply"),
    }
    values = {
        "name": data["name"],
        "timezone": data["timezone"],
        "holidays": ", ".join(data["holidays"]),
        "outside_hours_reply": data["outside_hours_reply"] or "",
        "team_id": form.get("team_id", ""),
        **{f"weekly.{day}": raw for day, raw in typed_days.items()},
    }

    async def create() -> object:
        body = _checked(BusinessHoursCreate, data)
        team_id = await _team_for_hours(request, shell, _optional(form, "team_id"))
        uow = container_of(request).uow
        hours = await routing.create_hours(
            uow, shell.principal, routing.HoursCommand(**body.model_dump())
        )
        if team_id is not None:
            attach = {"business_hours_id": hours.id}
            await routing.update_team(uow, shell.principal, team_id, attach)
        return hours

    return await _attempt(request, shell, "hours", values, create)


@router.post(f"{PAGE}/hours/{{hours_id}}/delete")
async def delete_hours(
    request: Request, hours_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    """Its teams become always open."""
    _allowed(shell, "hours")
    uow = container_of(request).uow
    return await _removed(
        request, shell, "hours", lambda: routing.delete_hours(uow, shell.principal, hours_id)
    )


# --------------------------------------------------------------------------- routing rules


@router.post(f"{PAGE}/rules")
async def create_rule(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    _allowed(shell, "rules")
    form = await form_of(request)
    channel = _optional(form, "channel_id")
    conditions: dict[str, Any] = {
        "channel_ids": [channel] if channel else [],
        "keywords": _words(form.get("keywords", "")),
        "pattern": form.get("pattern", "").strip() or None,
        "tags": _words(form.get("tags", "")),
        "sources": _words(form.get("sources", "")),
        "hours": _optional(form, "hours"),
    }
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "conditions": conditions,
        "required_skills": _words(form.get("required_skills", "")),
    }
    if team := _optional(form, "team_id"):
        data["team_id"] = team  # absent, not empty: the API says it is required
    values = {
        "name": data["name"],
        "team_id": team or "",
        "channel_id": channel or "",
        "hours": conditions["hours"] or "",
        "conditions.pattern": conditions["pattern"] or "",
        "required_skills": ", ".join(data["required_skills"]),
        **{f"conditions.{k}": ", ".join(conditions[k]) for k in ("keywords", "tags", "sources")},
    }

    async def create() -> object:
        body = _checked(RoutingRuleCreate, data)
        return await routing.create_rule(
            container_of(request).uow,
            shell.principal,
            name=body.name,
            team_id=body.team_id,
            conditions=body.conditions.domain(),
            required_skills=body.required_skills,
            position=body.position,
        )

    return await _attempt(request, shell, "rules", values, create)


@router.post(f"{PAGE}/rules/{{rule_id}}/up")
async def move_rule_up(
    request: Request, rule_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    """One place earlier in the evaluation order (the first match wins)."""
    _allowed(shell, "rules")
    uow = container_of(request).uow

    async def move() -> object:
        rule = await routing.get_rule(uow, shell.principal, rule_id)
        changes = {"position": max(0, rule.position - 1)}
        return await routing.update_rule(uow, shell.principal, rule_id, changes)

    return await _removed(request, shell, "rules", move)


@router.post(f"{PAGE}/rules/{{rule_id}}/delete")
async def delete_rule(
    request: Request, rule_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    _allowed(shell, "rules")
    uow = container_of(request).uow
    return await _removed(
        request, shell, "rules", lambda: routing.delete_rule(uow, shell.principal, rule_id)
    )


# --------------------------------------------------------------------------- SLA policies


@router.post(f"{PAGE}/sla")
async def create_policy(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    _allowed(shell, "sla")
    form = await form_of(request)
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "team_id": _optional(form, "team_id"),
        "first_response_seconds": _optional(form, "first_response_seconds"),
        "resolution_seconds": _optional(form, "resolution_seconds"),
    }
    values = {k: str(v or "") for k, v in data.items()}

    async def create() -> object:
        body = _checked(SlaPolicyCreate, data)
        uow = container_of(request).uow
        return await routing.save_policy(uow, shell.principal, body.model_dump())

    return await _attempt(request, shell, "sla", values, create)


@router.post(f"{PAGE}/sla/{{policy_id}}/delete")
async def delete_policy(
    request: Request, policy_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    _allowed(shell, "sla")
    uow = container_of(request).uow
    return await _removed(
        request, shell, "sla", lambda: routing.delete_policy(uow, shell.principal, policy_id)
    )
