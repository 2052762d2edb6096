"""Tenants, users (agents) and roles. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ventros.kernel.aggregate import AggregateRoot
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.ids import TenantId, UserId, new_id

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    VIEWER = "viewer"


class AgentStatus(StrEnum):
    AVAILABLE = "available"
    BUSY = "busy"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class TenantSettings:
    """A tenant's settings: the stored ones over these defaults, validated once here
    instead of read from a dict with fallbacks wherever they are used."""

    session_timeout_seconds: int = 1800
    rate_limit_per_minute: int = 100
    auto_assign: bool = False
    default_region: str = "BR"
    csat_on_close: bool = False  # ask the customer for a 1-5 rating when a session closes
    csat_question: str = (
        "Como você avalia o nosso atendimento? Responda com um número de 1 (ruim) a 5 (ótimo)."
    )
    deleted_contact_retention_days: int = 30  # LGPD: soft-deleted contacts purged after this

    def __post_init__(self) -> None:
        for name in ("session_timeout_seconds", "rate_limit_per_minute"):
            if getattr(self, name) < 1:
                raise RuleViolation(f"{name} must be at least 1", field=name)
        if self.deleted_contact_retention_days < 1:
            raise RuleViolation(
                "deleted_contact_retention_days must be at least 1",
                field="deleted_contact_retention_days",
            )
        if len(self.default_region) != 2 or not self.default_region.isupper():
            raise RuleViolation(
                "default_region is a two-letter country code", field="default_region"
            )
        if not self.csat_question.strip():
            raise RuleViolation("csat_question cannot be empty", field="csat_question")

    @classmethod
    def of(cls, stored: dict[str, Any]) -> TenantSettings:
        """From stored values (JSON): known keys only, each converted to its type."""
        defaults = DEFAULT_TENANT_SETTINGS
        return cls(**{key: type(defaults[key])(stored[key]) for key in defaults if key in stored})


DEFAULT_TENANT_SETTINGS: dict[str, Any] = {
    name: getattr(TenantSettings(), name) for name in TenantSettings.__dataclass_fields__
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: minted only by the auth layer from a verified token."""

    user_id: UserId
    tenant_id: TenantId
    role: Role
    email: str


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RuleViolation(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise RuleViolation(
            f"password must have at most {MAX_PASSWORD_LENGTH} characters", field="password"
        )
    if password.isdigit() or (password.isalpha() and password.lower() == password):
        # A lone run of digits or lower-case letters falls to the first dictionary pass.
        raise RuleViolation(
            "password must mix letters with digits, capitals or symbols", field="password"
        )


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(eq=False)
class Tenant(AggregateRoot):
    aggregate_type = "tenant"

    id: uuid.UUID
    name: str
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TENANT_SETTINGS))
    created_at: datetime = field(default_factory=utcnow)

    @property
    def tenant_id(self) -> uuid.UUID:  # type: ignore[override]
        return self.id

    @classmethod
    def create(cls, name: str) -> Tenant:
        name = name.strip()
        if not name:
            raise RuleViolation("tenant name must not be empty", field="name")
        tenant = cls(id=new_id(), name=name)
        tenant.record("tenant.created", {"name": name})
        return tenant

    def effective_settings(self) -> dict[str, Any]:
        return {**DEFAULT_TENANT_SETTINGS, **self.settings}

    def typed_settings(self) -> TenantSettings:
        return TenantSettings.of(self.settings)


@dataclass(eq=False)
class User(AggregateRoot):
    """A person who logs in. Agents are users; their capacity and skills live here too."""

    aggregate_type = "agent"

    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    name: str
    role: Role
    password_hash: str
    max_concurrent_sessions: int = 5
    skills: list[str] = field(default_factory=list)
    status: AgentStatus = AgentStatus.OFFLINE
    active: bool = True
    status_changed_at: datetime = field(default_factory=utcnow)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @classmethod
    def register(
        cls,
        *,
        tenant_id: uuid.UUID,
        email: str,
        name: str,
        role: Role,
        password_hash: str,
        max_concurrent_sessions: int = 5,
        skills: list[str] | None = None,
    ) -> User:
        if not name.strip():
            raise RuleViolation("name must not be empty", field="name")
        if max_concurrent_sessions < 0:
            raise RuleViolation("max_concurrent_sessions must be >= 0")
        user = cls(
            id=new_id(),
            tenant_id=tenant_id,
            email=normalise_email(email),
            name=name.strip(),
            role=role,
            password_hash=password_hash,
            max_concurrent_sessions=max_concurrent_sessions,
            skills=sorted({s.strip().lower() for s in skills or [] if s.strip()}),
        )
        user.record(
            "agent.created",
            {"email": user.email, "name": user.name, "role": user.role.value},
        )
        return user
