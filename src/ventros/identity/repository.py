"""Persistence of tenants and users (SQLAlchemy Core over the unit of work's connection)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    Row,
    Table,
    Text,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.exc import IntegrityError

from ventros.identity.domain import AgentStatus, Role, Tenant, User
from ventros.kernel.errors import Conflict
from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork

tenants = Table(
    "tenants",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("settings", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("email", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("max_concurrent_sessions", Integer, nullable=False, server_default=text("5")),
    Column("skills", ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    Column("status", Text, nullable=False, server_default=text("'offline'")),
    # A deactivated user cannot log in, and their tokens stop working at once.
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("status_changed_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Emails are unique across tenants: login finds the tenant from the email.
    Index("uq_users_email", text("lower(email)"), unique=True),
    Index("ix_users_tenant_id_id", "tenant_id", "id"),
)

# The web app's logins: keyed by the hash of the cookie's secret (the secret itself is
# never stored), read before any tenant is known, so outside tenant RLS.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("csrf_token", Text, nullable=False),
    Column("locale", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Index("ix_web_sessions_user_id", "user_id"),
    Index("ix_web_sessions_expires_at", "expires_at"),
)


@dataclass(frozen=True)
class WebSessionRecord:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    csrf_token: str
    locale: str | None
    expires_at: datetime
    revoked_at: datetime | None


class WebSessionRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def add(
        self,
        *,
        token_hash: str,
        user_id: uuid.UUID,
        tenant_id: uuid.UUID,
        csrf_token: str,
        locale: str | None,
        created_at: datetime,
        expires_at: datetime,
    ) -> None:
        await self._uow.connection.execute(
            web_sessions.insert().values(
                token_hash=token_hash,
                user_id=user_id,
                tenant_id=tenant_id,
                csrf_token=csrf_token,
                locale=locale,
                created_at=created_at,
                expires_at=expires_at,
            )
        )

    async def get(self, token_hash: str) -> WebSessionRecord | None:
        row = (
            await self._uow.connection.execute(
                select(web_sessions).where(web_sessions.c.token_hash == token_hash)
            )
        ).first()
        if row is None:
            return None
        return WebSessionRecord(
            row.user_id, row.tenant_id, row.csrf_token, row.locale, row.expires_at, row.revoked_at
        )

    async def revoke(self, token_hash: str, at: datetime) -> None:
        await self._uow.connection.execute(
            web_sessions.update()
            .where(web_sessions.c.token_hash == token_hash, web_sessions.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    async def set_locale(self, token_hash: str, locale: str) -> None:
        await self._uow.connection.execute(
            web_sessions.update()
            .where(web_sessions.c.token_hash == token_hash)
            .values(locale=locale)
        )


@dataclass(frozen=True)
class LoginRecord:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: Role
    password_hash: str
    active: bool


async def find_login(uow: UnitOfWork, email: str) -> LoginRecord | None:
    """Looks a user up by exactly one email across tenants, through a SECURITY DEFINER
    function: the app role cannot see other tenants' rows, and before login no tenant is
    known. The function answers one exact email at a time (no patterns), so it cannot be
    used to list users or their hashes."""
    row = (
        await uow.connection.execute(
            text("SELECT * FROM ventros_find_login(:email)"), {"email": email}
        )
    ).first()
    if row is None:
        return None
    return LoginRecord(
        row.id, row.tenant_id, row.email, Role(row.role), row.password_hash, row.active
    )


@dataclass(frozen=True, slots=True)
class Standing:
    """What every request needs to know about its caller now: role and whether active."""

    role: Role
    active: bool


async def standing_of(uow: UnitOfWork, user_id: uuid.UUID) -> Standing | None:
    """The user's current role and active flag (one indexed row, RLS-scoped)."""
    row = (
        await uow.connection.execute(
            select(users.c.role, users.c.active).where(users.c.id == user_id)
        )
    ).first()
    return Standing(Role(row.role), bool(row.active)) if row is not None else None


class TenantRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def add(self, tenant: Tenant) -> None:
        await self._uow.connection.execute(
            tenants.insert().values(
                id=tenant.id,
                name=tenant.name,
                settings=tenant.settings,
                created_at=tenant.created_at,
            )
        )
        self._uow.track(tenant)

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        row = (
            await self._uow.connection.execute(select(tenants).where(tenants.c.id == tenant_id))
        ).first()
        if row is None:
            return None
        return self._uow.track(
            Tenant(id=row.id, name=row.name, settings=dict(row.settings), created_at=row.created_at)
        )

    async def save_settings(self, tenant: Tenant) -> None:
        await self._uow.connection.execute(
            tenants.update().where(tenants.c.id == tenant.id).values(settings=tenant.settings)
        )


def _user_values(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "tenant_id": user.tenant_id,
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "password_hash": user.password_hash,
        "max_concurrent_sessions": user.max_concurrent_sessions,
        "skills": user.skills,
        "status": user.status.value,
        "active": user.active,
        "status_changed_at": user.status_changed_at,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def _user_from_row(row: Row[Any]) -> User:
    return User(
        id=row.id,
        tenant_id=row.tenant_id,
        email=row.email,
        name=row.name,
        role=Role(row.role),
        password_hash=row.password_hash,
        max_concurrent_sessions=row.max_concurrent_sessions,
        skills=list(row.skills),
        status=AgentStatus(row.status),
        active=row.active,
        status_changed_at=row.status_changed_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class UserRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def add(self, user: User) -> None:
        try:
            async with self._uow.connection.begin_nested():
                await self._uow.connection.execute(users.insert().values(**_user_values(user)))
        except IntegrityError as error:
            # The other holder may be in another tenant, so no existing_id is revealed.
            raise Conflict(f"a user with email {user.email} already exists") from error
        self._uow.track(user)

    async def get(self, user_id: uuid.UUID) -> User | None:
        row = (
            await self._uow.connection.execute(select(users).where(users.c.id == user_id))
        ).first()
        return self._uow.track(_user_from_row(row)) if row else None

    async def list(self) -> list[User]:
        rows = await self._uow.connection.execute(select(users).order_by(users.c.id.desc()))
        return [_user_from_row(row) for row in rows]

    async def save(self, user: User) -> None:
        values = _user_values(user)
        await self._uow.connection.execute(
            users.update().where(users.c.id == user.id).values(**values)
        )
