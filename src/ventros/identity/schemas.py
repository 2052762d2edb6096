"""Request and response models of the identity API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from ventros.identity.domain import DEFAULT_TENANT_SETTINGS, AgentStatus, Role, User


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - a scheme, not a secret
    expires_in: int


class MeRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    name: str
    role: Role


class SettingsRead(BaseModel):
    model_config = ConfigDict(extra="allow")

    session_timeout_seconds: int
    rate_limit_per_minute: int
    deleted_contact_retention_days: int = 30
    auto_assign: bool
    default_region: str
    csat_on_close: bool = False
    csat_question: str = DEFAULT_TENANT_SETTINGS["csat_question"]


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_timeout_seconds: int | None = Field(default=None, ge=1, le=604_800)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    deleted_contact_retention_days: int | None = Field(default=None, ge=1, le=3650)
    auto_assign: bool | None = None
    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    csat_on_close: bool | None = None
    csat_question: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="What the customer is asked when a session closes (a 1-5 reply rates it)",
    )


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=256)
    role: Role = Role.AGENT
    max_concurrent_sessions: int = Field(default=5, ge=0, le=1000)
    skills: list[str] = Field(default_factory=list, max_length=50)


class AgentRead(BaseModel):
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    name: str
    role: Role
    max_concurrent_sessions: int
    skills: list[str]
    status: AgentStatus
    active: bool = True
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> AgentRead:
        return cls(
            id=user.id,
            tenant_id=user.tenant_id,
            email=user.email,
            name=user.name,
            role=user.role,
            max_concurrent_sessions=user.max_concurrent_sessions,
            skills=user.skills,
            status=user.status,
            active=user.active,
            created_at=user.created_at,
        )
