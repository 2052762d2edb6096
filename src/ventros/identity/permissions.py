"""What each role may do. Every route names one permission; this table is the only place
that says which roles hold it."""

from __future__ import annotations

from enum import StrEnum

from ventros.identity.domain import Principal, Role
from ventros.kernel.errors import PermissionDenied


class Permission(StrEnum):
    CONTACTS_READ = "contacts:read"
    CONTACTS_WRITE = "contacts:write"
    CONTACTS_DELETE = "contacts:delete"
    CONTACTS_ANONYMIZE = "contacts:anonymize"
    AGENTS_READ = "agents:read"
    AGENTS_MANAGE = "agents:manage"
    USERS_CREATE = "users:create"
    USERS_MANAGE = "users:manage"  # roles, deactivation: admins only
    AGENTS_SET_OWN_STATUS = "agents:set_own_status"
    CHANNELS_READ = "channels:read"
    CHANNELS_MANAGE = "channels:manage"
    SESSIONS_READ = "sessions:read"
    SESSIONS_ACT_OWN = "sessions:act_own"
    SESSIONS_ASSIGN_ANY = "sessions:assign_any"
    MESSAGES_READ = "messages:read"
    MESSAGES_SEND = "messages:send"
    PIPELINES_READ = "pipelines:read"
    PIPELINES_MANAGE = "pipelines:manage"
    PIPELINES_MOVE = "pipelines:move"
    TRACKINGS_READ = "trackings:read"
    TRACKINGS_WRITE = "trackings:write"
    REPORTS_READ = "reports:read"
    SETTINGS_READ = "settings:read"
    SETTINGS_MANAGE = "settings:manage"
    WEBHOOKS_MANAGE = "webhooks:manage"
    EVENTS_READ = "events:read"
    REPLIES_MANAGE = "replies:manage"  # the canned replies catalogue
    LABELS_MANAGE = "labels:manage"  # the conversation labels catalogue


# A viewer reads everything, reports included (UI.md: "sees everything and can change
# nothing"); agents do not need the reports, so the viewer's read set is not a subset of the
# agent's: roles nest above the agent only.
_READ = {
    Permission.CONTACTS_READ,
    Permission.AGENTS_READ,
    Permission.CHANNELS_READ,
    Permission.SESSIONS_READ,
    Permission.MESSAGES_READ,
    Permission.PIPELINES_READ,
    Permission.TRACKINGS_READ,
    Permission.SETTINGS_READ,
    Permission.EVENTS_READ,
}
_VIEWER = _READ | {Permission.REPORTS_READ}
_AGENT = _READ | {
    Permission.CONTACTS_WRITE,
    Permission.CONTACTS_DELETE,
    Permission.AGENTS_SET_OWN_STATUS,
    Permission.SESSIONS_ACT_OWN,
    Permission.MESSAGES_SEND,
    Permission.PIPELINES_MOVE,
    Permission.TRACKINGS_WRITE,
}
_SUPERVISOR = _AGENT | {
    Permission.AGENTS_MANAGE,
    Permission.SESSIONS_ASSIGN_ANY,
    Permission.PIPELINES_MANAGE,
    Permission.REPORTS_READ,
    Permission.REPLIES_MANAGE,
    Permission.LABELS_MANAGE,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.SUPERVISOR: frozenset(_SUPERVISOR),
    Role.AGENT: frozenset(_AGENT),
    Role.VIEWER: frozenset(_VIEWER),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


# Who may be given a session: only a user who can answer it (viewers cannot send).
ANSWERING_ROLES = frozenset(r for r in Role if Permission.MESSAGES_SEND in ROLE_PERMISSIONS[r])


# What each permission lets a user do, as the end of "<role>s cannot ...": a refusal
# reads as a sentence the user can act on, not as a permission code.
_DOING: dict[Permission, str] = {
    Permission.CONTACTS_READ: "read contacts",
    Permission.CONTACTS_WRITE: "create or change contacts",
    Permission.CONTACTS_DELETE: "delete contacts",
    Permission.CONTACTS_ANONYMIZE: "anonymise contacts",
    Permission.AGENTS_READ: "see agents",
    Permission.AGENTS_MANAGE: "change agents (roles, skills, capacity)",
    Permission.USERS_CREATE: "create users",
    Permission.AGENTS_SET_OWN_STATUS: "set an agent status",
    Permission.CHANNELS_READ: "see channels",
    Permission.CHANNELS_MANAGE: "create, change or delete channels",
    Permission.SESSIONS_READ: "see conversations",
    Permission.SESSIONS_ACT_OWN: "take, transfer or close conversations",
    Permission.SESSIONS_ASSIGN_ANY: "assign conversations to others",
    Permission.MESSAGES_READ: "read messages",
    Permission.MESSAGES_SEND: "send messages",
    Permission.PIPELINES_READ: "see pipelines",
    Permission.PIPELINES_MANAGE: "create or change pipelines",
    Permission.PIPELINES_MOVE: "move contacts between pipeline stages",
    Permission.TRACKINGS_READ: "see trackings",
    Permission.TRACKINGS_WRITE: "record trackings",
    Permission.REPORTS_READ: "read reports",
    Permission.SETTINGS_READ: "read the settings",
    Permission.SETTINGS_MANAGE: "change the settings",
    Permission.WEBHOOKS_MANAGE: "manage webhooks",
    Permission.EVENTS_READ: "read events",
    Permission.REPLIES_MANAGE: "create, change or delete canned replies",
    Permission.LABELS_MANAGE: "create, change or delete conversation labels",
}


_ONE_OF = {Role.ADMIN: "an admin", Role.SUPERVISOR: "a supervisor", Role.AGENT: "an agent"}


def _who_may(permission: Permission) -> str:
    # Someone to ask is someone who can act or grant: a viewer who reads reports is not.
    allowed = [_ONE_OF[role] for role in Role if role in _ONE_OF and allows(role, permission)]
    return allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + f" or {allowed[-1]}"


def refusal(role: Role, permission: Permission) -> str:
    """Why `role` is refused `permission`, and who may do it instead."""
    subject, _, action = permission.value.partition(":")
    doing = _DOING.get(permission) or f"{action.replace('_', ' ')} {subject}"
    return f"{role.value}s cannot {doing}; ask {_who_may(permission)}"


def require(principal: Principal, permission: Permission) -> None:
    if not allows(principal.role, permission):
        raise PermissionDenied(refusal(principal.role, permission))
