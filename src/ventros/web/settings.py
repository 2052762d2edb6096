"""The settings screen (admins): the tenant's settings, WhatsApp channels and pairing,
users, outbound webhooks and ad-platform credentials.

Each form is checked by the same request model as its `/api/v1` route and then runs the
same use case, so the rules (ranges, password policy, the SSRF guard, admin only) are the
API's. A refused form comes back as the page with each message beside its field (status
422) and what was typed kept, secrets excepted. A secret Ventros makes (a channel's webhook
secret, a webhook's signing secret) is shown once, in the answer to its creation; tokens
typed in are never shown back."""

from __future__ import annotations

import functools
import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import RedirectResponse, Response

from ventros.agents import service as agents
from ventros.agents.ports import REQUEUE_SESSIONS, SESSION_LOAD
from ventros.channels import pairing
from ventros.channels import service as channels
from ventros.channels.api import get_waha_client, waha_reachable
from ventros.channels.domain import DEFAULT_RATE_LIMIT
from ventros.channels.schemas import ChannelCreate, ChannelRead
from ventros.channels.waha_client import WahaError
from ventros.identity import service as identity
from ventros.identity.domain import MIN_PASSWORD_LENGTH, Role
from ventros.identity.permissions import Permission, allows, require
from ventros.identity.schemas import AgentCreate, SettingsUpdate
from ventros.kernel.errors import Conflict, DomainError, RuleViolation
from ventros.tracking import service as tracking
from ventros.tracking.api.ads import IntegrationWrite
from ventros.tracking.integrations import REQUIRED_CONFIG, Platform
from ventros.web import i18n
from ventros.web.auth import CheckedWebSession, container_of, form_of
from ventros.web.routing import WebRoute
from ventros.web.views import Shell, ShellDep, _page
from ventros.webhooks import service as webhooks
from ventros.webhooks import ssrf
from ventros.webhooks.schemas import WebhookCreate

if TYPE_CHECKING:
    pass

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE = "/app/settings"
LIST_LIMIT = 50
DELIVERIES_SHOWN = 10
# Optional config each platform takes, beside the required ones (IntegrationWrite's doc).
OPTIONAL_CONFIG: dict[Platform, tuple[str, ...]] = {
    Platform.META: ("dataset_id", "waba_id", "test_event_code"),
    Platform.GOOGLE: ("login_customer_id",),
    Platform.TIKTOK: ("event_source",),
}


# --------------------------------------------------------------------------- field errors


@dataclass(frozen=True)
class FieldError:
    message: str  # in the reader's language
    detail: str | None = None  # the use case's own words, when they add something


@dataclass
class Outcome:
    """What a refused or finished form brings back to the page."""

    section: str = ""
    errors: dict[str, FieldError] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    shown_once: dict[str, str] = field(default_factory=dict)


def _message(error: dict[str, Any], _: Any) -> str:
    kind = error.get("type", "")
    limits = error.get("ctx") or {}
    if kind in ("missing", "string_too_short") and limits.get("min_length", 1) <= 1:
        return str(_("Required."))
    if kind == "string_too_short":
        return str(_("Too short: at least %(limit)s characters.") % {"limit": limits["min_length"]})
    if kind == "string_too_long":
        return str(_("Too long: at most %(limit)s characters.") % {"limit": limits["max_length"]})
    if kind in ("greater_than_equal", "greater_than"):
        limit = limits.get("ge", limits.get("gt"))
        return str(_("Must be at least %(limit)s.") % {"limit": limit})
    if kind in ("less_than_equal", "less_than"):
        limit = limits.get("le", limits.get("lt"))
        return str(_("Must be at most %(limit)s.") % {"limit": limit})
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return str(_("Must be a whole number."))
    if kind in ("enum", "literal_error"):
        return str(_("Choose one of the options."))
    if kind == "too_long":
        return str(_("Too many items."))
    if kind == "value_error" and "email" in str(error.get("msg", "")).lower():
        return str(_("Not a valid email address."))
    return str(_("Invalid value."))


def validation_errors(error: ValidationError, _: Any) -> dict[str, FieldError]:
    found: dict[str, FieldError] = {}
    for item in error.errors():
        loc = item.get("loc") or ("form",)
        name = ".".join(str(part) for part in loc if not isinstance(part, int))
        found.setdefault(name or "form", FieldError(_message(dict(item), _)))
    return found


Checked = TypeVar("Checked", bound=BaseModel)


def _checked(model: type[Checked], data: dict[str, Any]) -> Checked:
    """The form as the API's request model reads it; ValidationError otherwise."""
    return model.model_validate(data)


def _flag(form: dict[str, str], name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


# --------------------------------------------------------------------------- the page


async def _channel_rows(request: Request, shell: Shell) -> list[ChannelRead]:
    container = container_of(request)
    page = await channels.list_channels(
        container.uow, container.secret_box, shell.principal, limit=LIST_LIMIT
    )
    return [ChannelRead.of(c, base_url=str(request.base_url)) for c in page.items]


async def _webhook_rows(request: Request, shell: Shell) -> list[tuple[Any, list[Any]]]:
    uow = container_of(request).uow
    page = await webhooks.list_subscriptions(uow, shell.principal, limit=LIST_LIMIT)
    rows = []
    for subscription in page.items:
        attempts = await webhooks.list_attempts(
            uow, shell.principal, subscription.id, limit=DELIVERIES_SHOWN
        )
        rows.append((subscription, attempts.items))
    return rows


async def settings_page(
    request: Request, shell: Shell, outcome: Outcome | None = None, status_code: int = 200
) -> Response:
    require(shell.principal, Permission.SETTINGS_MANAGE)
    container = container_of(request)
    uow = container.uow
    integrations = await tracking.ad_platforms(uow, container.secret_box, shell.principal)
    context = {
        "active": "settings",
        "tenant": await identity.get_settings(uow, shell.principal),
        "channels": await _channel_rows(request, shell),
        "users": await identity.list_users(uow, shell.principal),
        "roles": [r.value for r in Role],
        "webhooks": await _webhook_rows(request, shell),
        "platforms": [
            (p, REQUIRED_CONFIG[p], OPTIONAL_CONFIG[p])
            for p in (Platform.META, Platform.GOOGLE, Platform.TIKTOK)
        ],
        "integrations": {v.platform.value: v for v in integrations},
        "outcome": outcome or Outcome(),
        "min_password": MIN_PASSWORD_LENGTH,
        "channel_rate_limit": DEFAULT_RATE_LIMIT,
    }
    return _page(request, shell, "settings.html", context, status_code=status_code)


@router.get(PAGE)
async def settings(request: Request, shell: ShellDep) -> Response:
    if not allows(shell.principal.role, Permission.SETTINGS_MANAGE):
        # The refusal page keeps the header: the rest of the app is still theirs.
        return _page(request, shell, "error.html", {"code": 403}, status_code=403)
    return await settings_page(request, shell)


def _saved(anchor: str) -> Response:
    return RedirectResponse(f"{PAGE}?toast_info=saved#{anchor}", status_code=303)


def _gettext(shell: Shell) -> Any:
    return i18n.translations(shell.locale).gettext


async def _refused(
    request: Request,
    shell: Shell,
    section: str,
    errors: dict[str, FieldError],
    values: dict[str, str],
) -> Response:
    outcome = Outcome(section=section, errors=errors, values=values)
    return await settings_page(request, shell, outcome, status_code=422)


# --------------------------------------------------------------------------- tenant


@router.post(f"{PAGE}/tenant")
async def save_tenant(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    require(shell.principal, Permission.SETTINGS_MANAGE)
    form = await form_of(request)
    _ = _gettext(shell)
    data: dict[str, Any] = {
        "session_timeout_seconds": form.get("session_timeout_seconds", "").strip(),
        "rate_limit_per_minute": form.get("rate_limit_per_minute", "").strip(),
        "auto_assign": _flag(form, "auto_assign"),
        "csat_on_close": _flag(form, "csat_on_close"),
        "csat_question": form.get("csat_question", "").strip(),
    }
    values = {k: str(v) for k, v in data.items()}
    try:
        changes = _checked(SettingsUpdate, data).model_dump(exclude_none=True)
    except ValidationError as error:
        return await _refused(request, shell, "tenant", validation_errors(error, _), values)
    container = container_of(request)
    await identity.update_settings(
        container.uow, shell.principal, changes, announced=container.tenant_settings_changes
    )
    return _saved("settings-tenant")


# --------------------------------------------------------------------------- channels


@router.post(f"{PAGE}/channels")
async def create_channel(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    require(shell.principal, Permission.CHANNELS_MANAGE)
    form = await form_of(request)
    _ = _gettext(shell)
    secret = form.get("webhook_secret", "").strip() or secrets.token_urlsafe(32)
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "base_url": form.get("base_url", "").strip(),
        "api_key": form.get("api_key", "").strip() or None,
        "waha_session": form.get("waha_session", "").strip() or "default",
        "webhook_secret": secret,
        "enforce_24h_window": _flag(form, "enforce_24h_window"),
        "rate_limit_per_minute": form.get("rate_limit_per_minute", "").strip()
        or DEFAULT_RATE_LIMIT,
        "ingest_groups": _flag(form, "ingest_groups"),
    }
    # Never echoed: the key and the secret.
    values = {k: str(v) for k, v in data.items() if k not in ("api_key", "webhook_secret")}
    try:
        body = _checked(ChannelCreate, data)
        await waha_reachable(request, body.base_url, field="base_url")
    except ValidationError as error:
        return await _refused(request, shell, "channels", validation_errors(error, _), values)
    except RuleViolation as error:
        return await _refused(request, shell, "channels", _rule_errors(error, _), values)
    container = container_of(request)
    command = channels.CreateChannel(**body.model_dump(exclude={"type"}))
    try:
        channel = await channels.create_channel(
            container.uow, container.secret_box, shell.principal, command
        )
    except (RuleViolation, Conflict) as error:
        return await _refused(request, shell, "channels", _rule_errors(error, _), values)
    read = ChannelRead.of(channel, base_url=str(request.base_url))
    shown = {"name": channel.name, "webhook_url": read.webhook_url, "secret": secret}
    return await settings_page(request, shell, Outcome(section="channels", shown_once=shown))


async def _waha(request: Request) -> Any:
    return await get_waha_client(request, container_of(request))


@router.get(f"{PAGE}/channels/{{channel_id}}/pairing")
async def channel_pairing(request: Request, channel_id: uuid.UUID, shell: ShellDep) -> Response:
    """The channel's live status and, asked with `qr=1` while WAHA waits for a scan, its QR
    code (htmx refreshes this every few seconds: WAHA rotates the code)."""
    show_qr = request.query_params.get("qr") == "1"
    return await _pairing_panel(request, shell, channel_id, show_qr=show_qr)


async def _pairing_panel(
    request: Request,
    shell: Shell,
    channel_id: uuid.UUID,
    *,
    show_qr: bool,
    note: str | None = None,
) -> Response:
    require(shell.principal, Permission.CHANNELS_MANAGE)
    container = container_of(request)
    state: pairing.SessionState | None = None
    failure: str | None = None
    try:
        state = await pairing.session_state(
            container.uow, container.secret_box, shell.principal, channel_id, await _waha(request)
        )
    except WahaError as error:
        failure = error.detail
    context = {
        "channel_id": channel_id,
        "state": state,
        "failure": failure,
        "note": note,
        "qr": state is not None and state.status == pairing.SCAN_QR_CODE,
        "show_qr": show_qr,
        "stamp": secrets.token_hex(4),  # a new image URL at each refresh: WAHA rotates it
    }
    return _page(request, shell, "_settings_pairing.html", context)


@router.get(f"{PAGE}/channels/{{channel_id}}/qr.png")
async def channel_qr(request: Request, channel_id: uuid.UUID, shell: ShellDep) -> Response:
    require(shell.principal, Permission.CHANNELS_MANAGE)
    container = container_of(request)
    try:
        png = await pairing.session_qr(
            container.uow, container.secret_box, shell.principal, channel_id, await _waha(request)
        )
    except (WahaError, Conflict):
        return Response(status_code=409, headers={"Cache-Control": "no-store"})
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post(f"{PAGE}/channels/{{channel_id}}/restart")
async def restart_channel(
    request: Request, channel_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    require(shell.principal, Permission.CHANNELS_MANAGE)
    container = container_of(request)
    _ = _gettext(shell)
    try:
        await pairing.session_action(
            container.uow,
            container.secret_box,
            shell.principal,
            channel_id,
            await _waha(request),
            "restart",
        )
        note = str(_("Restart requested: the status updates in a moment."))
    except WahaError as error:
        note = str(_("WAHA did not answer: %(detail)s") % {"detail": error.detail})
    return await _pairing_panel(request, shell, channel_id, show_qr=True, note=note)


# --------------------------------------------------------------------------- users


def _rule_errors(error: DomainError, _: Any) -> dict[str, FieldError]:
    """A use case's refusal beside the field it names, in the reader's words where we
    know the rule, with the use case's own words kept as detail."""
    if isinstance(error, ssrf.UnsafeTarget):
        message = _(
            "Refused: this address is private, local or does not resolve. "
            "Only public addresses may be called."
        )
        return {error.field or "url": FieldError(str(message), error.detail)}
    if isinstance(error, Conflict):
        return {"email": FieldError(str(_("A user with this email already exists.")))}
    name = getattr(error, "field", None) or "form"
    name = {"event_name": "won_event_name"}.get(name, name)
    if name == "password":
        words = _(
            "Use at least %(n)s characters, mixing letters with digits, capitals or symbols."
        ) % {"n": MIN_PASSWORD_LENGTH}
        return {name: FieldError(str(words))}
    return {name: FieldError(str(_("Invalid value.")), error.detail)}


@router.post(f"{PAGE}/agents")
async def create_agent(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    require(shell.principal, Permission.USERS_CREATE)
    form = await form_of(request)
    _ = _gettext(shell)
    skills = [s.strip() for s in form.get("skills", "").split(",") if s.strip()]
    data: dict[str, Any] = {
        "email": form.get("email", "").strip(),
        "name": form.get("name", "").strip(),
        "password": form.get("password", ""),
        "role": form.get("role", "agent"),
        "max_concurrent_sessions": form.get("max_concurrent_sessions", "").strip() or 5,
        "skills": list(dict.fromkeys(skills)),
    }
    values = {k: str(v) for k, v in data.items() if k not in ("password", "skills")}
    values["skills"] = ", ".join(data["skills"])
    try:
        body = _checked(AgentCreate, data)
        await identity.register_user(
            container_of(request).uow,
            shell.principal,
            identity.RegisterUser(
                email=str(body.email),
                name=body.name,
                password=body.password,
                role=body.role,
                max_concurrent_sessions=body.max_concurrent_sessions,
                skills=tuple(body.skills),
            ),
        )
    except ValidationError as error:
        return await _refused(request, shell, "agents", validation_errors(error, _), values)
    except (RuleViolation, Conflict) as error:
        return await _refused(request, shell, "agents", _rule_errors(error, _), values)
    return _saved("settings-agents")


@router.post(f"{PAGE}/agents/{{agent_id}}/{{action}}")
async def agent_standing(
    request: Request, agent_id: uuid.UUID, action: str, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    """Deactivate (their open sessions go back to the queue) or reactivate a user."""
    require(shell.principal, Permission.USERS_MANAGE)
    container = container_of(request)
    _ = _gettext(shell)
    try:
        if action == "deactivate":
            requeue = container.ports.get(REQUEUE_SESSIONS)  # conversations provides it
            await agents.deactivate_agent(container.uow, shell.principal, agent_id, requeue=requeue)
        elif action == "reactivate":
            load = container.ports.get(SESSION_LOAD)
            await agents.reactivate_agent(container.uow, shell.principal, agent_id, load=load)
        else:
            return Response(status_code=404)
    except RuleViolation as error:
        errors = {"standing": FieldError(str(_("You cannot deactivate yourself.")), error.detail)}
        return await _refused(request, shell, "agents", errors, {})
    return _saved("settings-agents")


# --------------------------------------------------------------------------- webhooks


@router.post(f"{PAGE}/webhooks")
async def create_webhook(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    require(shell.principal, Permission.WEBHOOKS_MANAGE)
    form = await form_of(request)
    _ = _gettext(shell)
    events = [e.strip() for e in form.get("events", "").replace("\n", ",").split(",") if e.strip()]
    data: dict[str, Any] = {
        "url": form.get("url", "").strip(),
        "events": events,
        "secret": form.get("secret", "").strip() or None,
    }
    values = {"url": data["url"], "events": ", ".join(events)}
    container = container_of(request)
    guard = functools.partial(
        ssrf.ensure_allowed, allow_private=container.settings.webhooks_allow_private
    )
    try:
        body = _checked(WebhookCreate, data)
        created = await webhooks.create_subscription(
            container.uow,
            container.secret_box,
            shell.principal,
            webhooks.CreateSubscription(url=body.url, events=body.events, secret=body.secret),
            guard=guard,
        )
    except ValidationError as error:
        return await _refused(request, shell, "webhooks", validation_errors(error, _), values)
    except RuleViolation as error:
        return await _refused(request, shell, "webhooks", _rule_errors(error, _), values)
    shown = {"url": created.subscription.url, "secret": created.secret}
    return await settings_page(request, shell, Outcome(section="webhooks", shown_once=shown))


@router.post(f"{PAGE}/webhooks/{{webhook_id}}/{{action}}")
async def webhook_action(
    request: Request, webhook_id: uuid.UUID, action: str, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    """Enable a disabled webhook again (its failures are forgiven), disable or delete it."""
    require(shell.principal, Permission.WEBHOOKS_MANAGE)
    uow = container_of(request).uow
    if action in ("enable", "disable"):
        await webhooks.set_enabled(uow, shell.principal, webhook_id, enabled=action == "enable")
    elif action == "delete":
        await webhooks.delete_subscription(uow, shell.principal, webhook_id)
    else:
        return Response(status_code=404)
    return _saved("settings-webhooks")


# --------------------------------------------------------------------------- ad platforms


@router.post(f"{PAGE}/ads/{{platform}}")
async def connect_ads(
    request: Request, platform: Platform, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    require(shell.principal, Permission.SETTINGS_MANAGE)
    form = await form_of(request)
    _ = _gettext(shell)
    names = REQUIRED_CONFIG[platform] + OPTIONAL_CONFIG[platform]
    config = {n: form.get(f"config.{n}", "").strip() for n in names}
    data: dict[str, Any] = {
        "access_token": form.get("access_token", "").strip(),
        "developer_token": form.get("developer_token", "").strip() or None,
        "config": {k: v for k, v in config.items() if v},
        "conversion_on_won": _flag(form, "conversion_on_won"),
        "won_event_name": form.get("won_event_name", "").strip() or "Purchase",
    }
    # Tokens are never echoed; the ids and choices are.
    values = {f"config.{k}": v for k, v in config.items()}
    values["won_event_name"] = data["won_event_name"]
    values["conversion_on_won"] = "on" if data["conversion_on_won"] else ""
    section = f"ads-{platform.value}"
    container = container_of(request)
    try:
        body = _checked(IntegrationWrite, data)
        await tracking.connect_ad_platform(
            container.uow,
            container.secret_box,
            shell.principal,
            tracking.ConnectAdPlatform(
                platform=platform,
                access_token=body.access_token,
                developer_token=body.developer_token,
                config=dict(body.config),
                conversion_on_won=body.conversion_on_won,
                won_event_name=body.won_event_name,
            ),
        )
    except ValidationError as error:
        return await _refused(request, shell, section, validation_errors(error, _), values)
    except RuleViolation as error:
        return await _refused(request, shell, section, _rule_errors(error, _), values)
    return _saved(f"settings-ads-{platform.value}")
