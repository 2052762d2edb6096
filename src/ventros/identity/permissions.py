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
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.SUPERVISOR: frozenset(_SUPERVISOR),
    Role.AGENT: frozenset(_AGENT),
    Role.VIEWER: frozenset(_READ),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


def require(principal: Principal, permission: Permission) -> None:
    if not allows(principal.role, permission):
        raise PermissionDenied(f"role '{principal.role}' may not {permission.value}")
